/**
 * The simulator's own durable state: what every simulated host "has" (VMs, their power state, guest
 * agent, freeze, snapshot tree) and the run-time fault rules.
 *
 * It lives in ONE JSON file per simulated zone, apart from the management server's database, so the two
 * can disagree after a crash exactly as a real hypervisor and CloudStack's database can. Every mutation
 * is written atomically (temp file + fsync + rename) before the agent answers.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { z } from 'zod';
import { AGENT_COMMAND_KINDS } from '../../core/plugin-api.ts';

const volumeSchema = z.object({
  id: z.string(),
  type: z.enum(['ROOT', 'DATADISK']),
  path: z.string(),
  poolId: z.string(),
  format: z.enum(['QCOW2', 'RAW']),
  size: z.number(),
  deviceId: z.number(),
});

const snapshotVolumeSchema = z.object({ id: z.string(), path: z.string(), size: z.number() });

const snapshotSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(['Disk', 'DiskAndMemory']),
  description: z.string(),
  /** Name of the parent snapshot in this VM's tree, null for a root. */
  parentName: z.string().nullable(),
  createdAt: z.number(),
  quiesced: z.boolean(),
  volumes: z.array(snapshotVolumeSchema),
});

const freezeWindowSchema = z.object({
  frozenAt: z.number(),
  thawedAt: z.number(),
  ms: z.number(),
  /** `agent`: thawed through the guest agent; `watchdog`: the freeze budget ran out; `reset`: stop, revert, destroy. */
  thawedBy: z.enum(['agent', 'watchdog', 'reset']),
});

const vmSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  zoneId: z.string(),
  /** The host the VM runs on, or last ran on (a stopped VM's disks are on shared storage). */
  hostId: z.string().nullable(),
  memoryMb: z.number(),
  cpus: z.number(),
  powerState: z.enum(['PowerOn', 'PowerOff']),
  volumes: z.array(volumeSchema),
  frozen: z.boolean(),
  frozenAt: z.number().nullable(),
  /** Epoch ms at which the freeze watchdog thaws the guest on its own; persisted so a restart honours it. */
  freezeDeadline: z.number().nullable(),
  snapshots: z.record(z.string(), snapshotSchema),
  currentSnapshot: z.string().nullable(),
  /** The `requestId` of the last revert applied (recovery asks about it). */
  lastRevertRequest: z.string().nullable().optional(),
  counters: z.object({ freezes: z.number(), thaws: z.number(), watchdogThaws: z.number() }),
  lastFreezeWindow: freezeWindowSchema.nullable(),
});

export const guestAgentModeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('present') }),
  z.object({ kind: z.literal('absent') }),
  z.object({ kind: z.literal('slow'), ms: z.number().nonnegative() }),
  z.object({ kind: z.literal('hung') }),
]);

const agentCommandKinds = AGENT_COMMAND_KINDS;

export const faultRuleSchema = z.object({
  id: z.string(),
  command: z.enum([...agentCommandKinds, '*']),
  scope: z.object({
    zoneId: z.string().optional(),
    hostId: z.string().optional(),
    vmName: z.string().optional(),
  }),
  action: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('fail'), message: z.string().optional() }),
    z.object({ kind: z.literal('throw'), message: z.string().optional() }),
    z.object({ kind: z.literal('delay'), ms: z.number().nonnegative() }),
    z.object({ kind: z.literal('hang') }),
  ]),
  /** Matches left; null = forever. */
  count: z.number().int().positive().nullable(),
});

const stateSchema = z.object({
  version: z.literal(1),
  vms: z.record(z.string(), vmSchema),
  /** Guest agent mode per VM name; a VM without an entry has a `present` agent. */
  guestAgents: z.record(z.string(), guestAgentModeSchema),
  faults: z.array(faultRuleSchema),
});

export type SimVolume = z.infer<typeof volumeSchema>;
export type SimSnapshotVolume = z.infer<typeof snapshotVolumeSchema>;
export type SimSnapshot = z.infer<typeof snapshotSchema>;
export type FreezeWindow = z.infer<typeof freezeWindowSchema>;
export type SimVm = z.infer<typeof vmSchema>;
export type GuestAgentMode = z.infer<typeof guestAgentModeSchema>;
export type SimulatorStateData = z.infer<typeof stateSchema>;

export function emptyState(): SimulatorStateData {
  return { version: 1, vms: {}, guestAgents: {}, faults: [] };
}

/** Where the simulator keeps its state. `load` returns null when nothing was saved yet. */
/** What changed since the last save: stores that can write a part (SQLite) write only that. */
export interface DirtySet {
  readonly vms: ReadonlySet<string>;
  readonly meta: boolean;
}

export interface SimulatorStateStore {
  load(): SimulatorStateData | null;
  save(data: SimulatorStateData, dirty?: DirtySet): void;
  close?(): void;
}

/** In-memory store for fast unit tests; keeps a serialized copy so nothing aliases the live state. */
export class MemoryStateStore implements SimulatorStateStore {
  private saved: string | null = null;
  load(): SimulatorStateData | null {
    return this.saved === null ? null : parseState(this.saved, 'memory');
  }
  save(data: SimulatorStateData): void {
    this.saved = JSON.stringify(data);
  }
}

/**
 * One JSON file, replaced atomically. Writes are synchronous on purpose: the answer must not leave the
 * agent before its effect is durable, and a sync write cannot interleave with another command's write.
 */
export class JsonFileStateStore implements SimulatorStateStore {
  constructor(
    readonly path: string,
    private readonly fsync = true,
  ) {}

  load(): SimulatorStateData | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return parseState(text, this.path);
  }

  save(data: SimulatorStateData): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(data));
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    if (this.fsync) fsyncDirectory(dirname(this.path));
  }
}

function parseState(text: string, source: string): SimulatorStateData {
  const parsed = stateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`Invalid simulator state in ${source}: ${parsed.error.message}`);
  return parsed.data;
}

/** The rename itself must be durable too; some platforms refuse to open a directory, which is harmless. */
function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort only.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}

/**
 * One row per VM in a SQLite file of the simulator's own (not the management server's database), so
 * a change writes only the VMs it touched: the whole-file JSON store costs O(VMs) per answer, which
 * dominates a zone of a thousand VMs. WAL with synchronous=NORMAL: each commit survives a killed
 * process (what the simulator must model); power loss is not a simulated host's concern.
 */
export class SqliteStateStore implements SimulatorStateStore {
  private readonly db: SqliteDatabase.Database;

  constructor(readonly path: string) {
    // Private like the rest of the data dir; SQLite gives -wal and -shm the database file's mode.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
    this.db = new SqliteDatabase(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS vms (name TEXT PRIMARY KEY, json TEXT NOT NULL)');
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, json TEXT NOT NULL)');
  }

  load(): SimulatorStateData | null {
    const meta = this.db.prepare('SELECT json FROM meta WHERE key = ?').get('world') as
      { json: string } | undefined;
    const rows = this.db.prepare('SELECT name, json FROM vms').all() as { name: string; json: string }[];
    if (meta === undefined && rows.length === 0) return null;
    const { vms: _none, ...defaults } = emptyState();
    const base = meta === undefined ? defaults : (JSON.parse(meta.json) as Record<string, unknown>);
    const vms: Record<string, unknown> = {};
    for (const r of rows) vms[r.name] = JSON.parse(r.json);
    return parseState(JSON.stringify({ ...base, vms }), this.path);
  }

  save(data: SimulatorStateData, dirty?: DirtySet): void {
    const upsertVm = this.db.prepare('INSERT OR REPLACE INTO vms (name, json) VALUES (?, ?)');
    const deleteVm = this.db.prepare('DELETE FROM vms WHERE name = ?');
    const upsertMeta = this.db.prepare('INSERT OR REPLACE INTO meta (key, json) VALUES (?, ?)');
    this.db.transaction(() => {
      const names = dirty === undefined ? Object.keys(data.vms) : [...dirty.vms];
      if (dirty === undefined) this.db.exec('DELETE FROM vms');
      for (const name of names) {
        const vm = data.vms[name];
        if (vm === undefined) deleteVm.run(name);
        else upsertVm.run(name, JSON.stringify(vm));
      }
      if (dirty === undefined || dirty.meta) {
        const { vms: _vms, ...meta } = data;
        upsertMeta.run('world', JSON.stringify(meta));
      }
    })();
  }

  close(): void {
    this.db.close();
  }
}
