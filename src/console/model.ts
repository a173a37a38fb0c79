/**
 * The API's rows as the console reads them (CloudStack's JSON names plus vmsnap's extensions), and
 * how they are put into words. Only the fields a page shows are named; the API may send more.
 */

export interface VmRow {
  readonly id: string;
  readonly name: string;
  readonly displayname?: string;
  readonly state: string;
  readonly hostname?: string;
  readonly zonename?: string;
  readonly account?: string;
  readonly cpunumber?: number;
  readonly memory?: number;
}

export interface SnapshotRow {
  readonly id: string;
  readonly displayname: string;
  readonly name: string;
  readonly description?: string;
  readonly state: string;
  readonly type: string;
  readonly current: boolean;
  readonly created: string;
  readonly virtualmachineid: string;
  readonly parent?: string;
  readonly strategy?: string;
  readonly quiescevm?: boolean;
  readonly consistency?: string;
  readonly pausems?: number;
  readonly freezewindowms?: number;
  readonly durationms?: number;
  readonly memorymode?: string;
  readonly errortext?: string;
  /** The schedule that took it (issue 13); absent for a snapshot taken by hand. */
  readonly vmsnapshotpolicyid?: string;
  /**
   * Bytes its disks covered at the take, the sum of its volumes' sizes (CloudStack's name on
   * snapshot responses); absent until the take has recorded its volumes. Memory is not counted.
   */
  readonly virtualsize?: number;
}

export interface EventRow {
  readonly id: string;
  readonly created: string;
  readonly level: string;
  readonly type: string;
  readonly description: string;
  readonly username?: string;
  readonly account?: string;
}

export interface HostRow {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly hypervisor: string;
  readonly zonename?: string;
  readonly ipaddress?: string;
  readonly lastpinged?: string;
}

export interface PoolRow {
  readonly id: string;
  readonly name: string;
  readonly provider: string;
  readonly type: string;
  readonly state: string;
  readonly scope: string;
  readonly zonename?: string;
  readonly url?: string;
  readonly disksizetotal?: number;
  readonly disksizeused?: number;
}

export interface ConfigRow {
  readonly name: string;
  readonly value?: string;
  readonly description?: string;
  readonly category?: string;
}

/** A snapshot's state in words, as a person would say it. */
const STATE_WORDS: Readonly<Record<string, string>> = {
  Allocated: 'Allocated',
  Creating: 'Creating',
  Ready: 'Ready',
  Reverting: 'Reverting',
  Expunging: 'Deleting',
  Removed: 'Deleted',
  Error: 'Error',
  Hidden: 'Hidden',
};

export function stateInWords(state: string): string {
  return STATE_WORDS[state] ?? state;
}

/** States a snapshot moves out of by itself: a page showing one keeps refreshing. */
export const TRANSIENT_STATES: ReadonlySet<string> = new Set([
  'Allocated',
  'Creating',
  'Reverting',
  'Expunging',
]);

export function typeInWords(type: string): string {
  return type === 'DiskAndMemory' ? 'Disk and memory' : type === 'Disk' ? 'Disk only' : type;
}

const CONSISTENCY_WORDS: Readonly<Record<string, string>> = {
  'application-consistent': 'Application-consistent',
  'crash-consistent': 'Crash-consistent',
  'no-guest-agent': 'Crash-consistent (no guest agent)',
  'quiesce-timed-out': 'Crash-consistent (the guest did not freeze in time)',
};

export function consistencyInWords(consistency: string | undefined): string {
  if (consistency === undefined) return 'Not known yet';
  return CONSISTENCY_WORDS[consistency] ?? consistency;
}

export function milliseconds(ms: number | undefined): string {
  if (ms === undefined) return 'None';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return 'Not reported';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * A snapshot's "Size": its disks' size in binary units. A memory snapshot says that its memory
 * state is not counted, so the figure is not read as all it holds.
 */
export function snapshotSize(s: Pick<SnapshotRow, 'virtualsize' | 'state' | 'type'>): string {
  if (s.virtualsize === undefined) return TRANSIENT_STATES.has(s.state) ? 'Not known yet' : 'Not reported';
  const disks = bytes(s.virtualsize);
  return s.type === 'DiskAndMemory' ? `${disks} of disks, memory not counted` : disks;
}

/** CloudStack's dates (`2026-12-01T16:54:00+0000`) as the browser's local time. */
export function when(date: string | undefined): string {
  if (date === undefined) return '';
  const parsed = new Date(date.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isNaN(parsed.getTime()) ? date : parsed.toLocaleString();
}

/** A tree of snapshots: each with its children, oldest first. */
export interface SnapshotNode {
  readonly snapshot: SnapshotRow;
  readonly children: SnapshotNode[];
}

export function snapshotTree(rows: readonly SnapshotRow[]): SnapshotNode[] {
  const nodes = new Map(rows.map((s) => [s.id, { snapshot: s, children: [] as SnapshotNode[] }]));
  const roots: SnapshotNode[] = [];
  // The API lists newest first; a tree reads oldest first.
  for (const s of [...rows].reverse()) {
    const node = nodes.get(s.id);
    if (node === undefined) continue;
    const parent = s.parent === undefined ? undefined : nodes.get(s.parent);
    (parent?.children ?? roots).push(node);
  }
  return roots;
}
