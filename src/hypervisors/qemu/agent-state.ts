/**
 * The QEMU agent's durable state: VMs, their disk chains and their snapshots, in one JSON file written
 * atomically (temp file + fsync + rename). Snapshot steps are recorded in `pending` before and after each
 * risky step, so a restarted agent knows how far an operation got and can reconcile.
 */
import { randomUUID } from 'node:crypto';
import { chmod, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { HostTimings, VmSnapshotType, VolumeType } from '../../core/plugin-api.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from './private-files.ts';
import type { RbdDisk } from './rbd-disk.ts';
import type { RbdGroupSnap } from './rbd-memory-snapshot.ts';
import type { Accel } from './vm-process.ts';

/** One disk of a VM and the qcow2 files of its snapshot tree. */
export interface DiskRecord {
  readonly volumeId: string;
  readonly deviceId: number;
  readonly type: VolumeType;
  readonly size: number;
  /** The file the VM writes to (top of the running chain). */
  active: string;
  /** Every file of the disk's tree and its backing file (null for the base image). */
  backing: Record<string, string | null>;
  /**
   * An RBD image instead of a file (`active` is then the image name and `backing` is empty): its
   * snapshots are the storage driver's (group snapshots), not qcow2 overlays.
   */
  rbd?: RbdDisk;
}

/** How a snapshot was taken: external overlays (disk only, or with a live RAM file) or `snapshot-save`. */
export type SnapshotMode = 'external' | 'live' | 'internal';

export interface SnapshotDisk {
  readonly volumeId: string;
  readonly deviceId: number;
  /** The file holding the disk as it was at the snapshot (external), or holding the tag (internal). */
  image: string;
}

export interface SnapshotRecord {
  readonly name: string;
  readonly id: string;
  readonly parent: string | null;
  readonly type: VmSnapshotType;
  readonly mode: SnapshotMode;
  state: 'Creating' | 'Ready' | 'Error' | 'Hidden';
  disks: SnapshotDisk[];
  /** RAM state file of a live memory snapshot. */
  vmstate: string | null;
  timings: HostTimings;
  readonly createdAt: number;
  error?: string;
  /** Human-readable breakdown of the freeze window, returned as the answer's details. */
  note?: string;
  /** The group snapshot holding the disks of a memory snapshot of a VM on RBD. */
  rbdGroupSnap?: RbdGroupSnap;
}

/** An operation in flight, for reconciliation after a crash. */
export interface PendingOp {
  readonly op: 'create' | 'revert' | 'delete';
  readonly snapshot: string;
  step: string;
  /** The VM ran before the operation (so it must run after a rollback). */
  readonly wasRunning: boolean;
  /** Files the operation creates; removed on rollback unless adopted. */
  readonly newFiles: { deviceId: number; file: string; node: string }[];
  readonly vmstate: string | null;
}

/**
 * A guest freeze in effect, persisted BEFORE the freeze command goes to the guest: a restarted agent
 * must thaw a guest whose watchdog died with the previous process (the watchdog lives in memory).
 */
export interface FreezeRecord {
  /** Epoch ms after which the guest is thawed whoever froze it; null: no budget was given. */
  readonly deadline: number | null;
  /**
   * `snapshot`: the agent froze it inside a snapshot (that operation dies with the agent, so a
   * restart thaws at once); `caller`: a FreezeThaw command (the caller may still be working, so a
   * restart re-arms the watchdog for the rest of the budget).
   */
  readonly owner: 'snapshot' | 'caller';
}

export interface VmRecord {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly poolDir: string;
  disks: DiskRecord[];
  accel: Accel | null;
  snapshots: SnapshotRecord[];
  pending: PendingOp | null;
  /** Absent in state files written before freezes were persisted. */
  freeze?: FreezeRecord | null;
  /** The snapshot the VM now runs from: the last completed create or revert (CheckVMSnapshot `current`). */
  currentSnapshot?: string | null;
  /** The `requestId` of the last revert applied (CheckVMSnapshot `revertApplied`). */
  lastRevertRequest?: string | null;
}

export interface AgentStateData {
  version: 1;
  vms: VmRecord[];
}

export class AgentStateStore {
  private readonly file: string;
  data: AgentStateData = { version: 1, vms: [] };

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'qemu-agent-state.json');
  }

  async load(): Promise<void> {
    await ensurePrivateDir(path.dirname(this.file));
    try {
      // Written 0644 by older versions: it names every disk of every VM.
      await chmod(this.file, PRIVATE_FILE_MODE);
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as AgentStateData;
      if (parsed.version !== 1 || !Array.isArray(parsed.vms))
        throw new Error(`unknown state format in ${this.file}`);
      this.data = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Atomic: a crash leaves either the old or the new file, never a torn one. */
  async save(): Promise<void> {
    const tmp = `${this.file}.${randomUUID()}.tmp`;
    const handle = await open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify(this.data, null, 1));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
  }

  vm(name: string): VmRecord | undefined {
    return this.data.vms.find((v) => v.name === name);
  }
}
