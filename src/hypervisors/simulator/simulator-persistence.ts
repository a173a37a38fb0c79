/**
 * Where the simulated zone is kept: rows of JSON, one per VM, per guest agent mode and per fault rule,
 * each with a version. The server hands the world a persistence backed by the management database
 * (as CloudStack's simulator keeps `mockvm`, `mockconfiguration`… there), so every management server
 * acts for every simulated host; tests use the in-memory one, several worlds on one of them standing
 * for several servers.
 *
 * Rows are written with compare-and-set on their version: two servers acting on the same row never
 * lose each other's writes; the second is told it lost and re-reads.
 */
export type SimObjectKind = 'vm' | 'guest-agent' | 'fault';

export interface SimObjectRow {
  readonly name: string;
  /** JSON text; validated by the world when read. */
  readonly body: string;
  /** 1 when first written, +1 on every write. */
  readonly version: number;
}

/**
 * One host-side command a simulated host applied (create, revert or delete of a VM snapshot): which
 * job sent it, for which VM and snapshot, and when it ran. Stored with the VM's new state in one
 * transaction, so it is there exactly when the command took effect.
 */
export interface SimCommandRecord {
  /** Unique per execution: two executions of one job's command are two records. */
  readonly id: string;
  readonly kind: string;
  /** The job that sent it (the command's requestId), when it names one. */
  readonly jobId: string | null;
  readonly vmName: string;
  readonly snapshotName: string | null;
  readonly snapshotId: string | null;
  readonly hostId: string;
  /** Epoch ms: received by the host, and its effect stored. */
  readonly started: number;
  readonly finished: number;
}

export interface SimulatorPersistence {
  /** Every row of a kind, oldest first (fault rules apply in the order they were added). */
  list(kind: SimObjectKind): Promise<SimObjectRow[]>;
  get(kind: SimObjectKind, name: string): Promise<SimObjectRow | undefined>;
  /**
   * Writes `body` if the row is still at version `expected` (null: only if no such row exists).
   * False when another writer got there first: nothing was written. With `command`, that record is
   * stored in the same transaction (and not at all when the write lost).
   */
  put(
    kind: SimObjectKind,
    name: string,
    body: string,
    expected: number | null,
    command?: SimCommandRecord,
  ): Promise<boolean>;
  /** Stores the record of a command that applied without changing any row (a delete of a gone snapshot). */
  recordCommand(command: SimCommandRecord): Promise<void>;
  /** Last writer wins: settings such as a guest agent mode. */
  set(kind: SimObjectKind, name: string, body: string): Promise<void>;
  /** Deletes the row (only at version `expected` when given); false when there was nothing to delete. */
  remove(kind: SimObjectKind, name: string, expected?: number): Promise<boolean>;
  /** Every row of the kind replaced by `rows`, in one transaction. */
  replaceAll(
    kind: SimObjectKind,
    rows: readonly { readonly name: string; readonly body: string }[],
  ): Promise<void>;
}

interface StoredRow {
  body: string;
  version: number;
  position: number;
}

/** In-memory rows: for tests and a server-less simulator. Several worlds may share one. */
export class MemorySimulatorPersistence implements SimulatorPersistence {
  private readonly rows = new Map<string, StoredRow>();
  private nextPosition = 0;
  /** Writes that reached the rows (tests count them). */
  writes = 0;
  /** Every command record stored, oldest first. */
  readonly commands: SimCommandRecord[] = [];

  async list(kind: SimObjectKind): Promise<SimObjectRow[]> {
    const prefix = `${kind}\u0000`;
    return [...this.rows]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([, a], [, b]) => a.position - b.position)
      .map(([key, row]) => ({ name: key.slice(prefix.length), body: row.body, version: row.version }));
  }

  async get(kind: SimObjectKind, name: string): Promise<SimObjectRow | undefined> {
    const row = this.rows.get(keyOf(kind, name));
    return row === undefined ? undefined : { name, body: row.body, version: row.version };
  }

  async put(
    kind: SimObjectKind,
    name: string,
    body: string,
    expected: number | null,
    command?: SimCommandRecord,
  ): Promise<boolean> {
    const key = keyOf(kind, name);
    const row = this.rows.get(key);
    if ((row?.version ?? null) !== expected) return false;
    this.write(key, body, row);
    if (command !== undefined) this.commands.push(command);
    return true;
  }

  async recordCommand(command: SimCommandRecord): Promise<void> {
    this.commands.push(command);
  }

  async set(kind: SimObjectKind, name: string, body: string): Promise<void> {
    const key = keyOf(kind, name);
    this.write(key, body, this.rows.get(key));
  }

  async remove(kind: SimObjectKind, name: string, expected?: number): Promise<boolean> {
    const key = keyOf(kind, name);
    const row = this.rows.get(key);
    if (row === undefined || (expected !== undefined && row.version !== expected)) return false;
    this.rows.delete(key);
    this.writes += 1;
    return true;
  }

  async replaceAll(kind: SimObjectKind, rows: readonly { name: string; body: string }[]): Promise<void> {
    for (const key of [...this.rows.keys()]) if (key.startsWith(`${kind}\u0000`)) this.rows.delete(key);
    for (const row of rows) this.write(keyOf(kind, row.name), row.body, undefined);
  }

  private write(key: string, body: string, previous: StoredRow | undefined): void {
    this.rows.set(key, {
      body,
      version: (previous?.version ?? 0) + 1,
      position: previous?.position ?? (this.nextPosition += 1),
    });
    this.writes += 1;
  }
}

function keyOf(kind: SimObjectKind, name: string): string {
  return `${kind}\u0000${name}`;
}
