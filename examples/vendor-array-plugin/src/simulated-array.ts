/**
 * A simulated storage array: what a vendor's REST API would look like from the driver's side.
 *
 * - Pools hold volumes; a volume is created on demand the first time vmsnap names it.
 * - One call snapshots many volumes at one instant (a consistency group), all or nothing.
 * - Every call waits `latencyMs` first, like a round trip to a real array.
 * - Faults can be armed per operation ("fail the next N takes"), from options or at run time.
 * - `latest-only` revert mode behaves like ZFS and Cinder: newer snapshots block a revert.
 * - State is one document in the server's shared store (PluginHost.store, in the management
 *   database), so every management server talks to the same array, as every server would reach a
 *   real array over the network; each change is a compare-and-set, retried on a race. Without a
 *   shared store (tests, a single server) it is a JSON file written atomically (temp file + rename).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

export type ArrayOperation = 'take' | 'revert' | 'delete' | 'list';
export const ARRAY_OPERATIONS: readonly ArrayOperation[] = ['take', 'revert', 'delete', 'list'];

export type RevertMode = 'any' | 'latest-only';

export interface ArrayFault {
  readonly op: ArrayOperation;
  /** How many of the next calls of `op` fail. */
  readonly count: number;
  readonly message?: string;
}

/** Where several servers keep the array: structurally vmsnap's PluginStore (types stay vmsnap's). */
export interface SharedArrayStore {
  get(key: string): Promise<{ readonly value: string; readonly version: number } | undefined>;
  put(key: string, value: string, expected: number | null): Promise<boolean>;
}

export interface SimulatedArrayOptions {
  /** JSON state file; null keeps the array in memory only (or in `shared`). */
  readonly stateFile: string | null;
  /** The array's one document in a store every server reaches; wins over `stateFile`. */
  readonly shared?: { readonly store: SharedArrayStore; readonly key: string };
  readonly latencyMs?: number;
  readonly revertMode?: RevertMode;
  readonly maxSnapshotsPerVolume?: number | null;
  /** Pools that exist from the start (more are created on demand). */
  readonly pools?: readonly string[];
  readonly faults?: readonly ArrayFault[];
}

export interface ArrayVolumeSnapshot {
  readonly id: string;
  /** The consistency group cut this snapshot belongs to: members share one instant. */
  readonly groupId: string;
  readonly name: string;
  readonly createdAt: number;
  readonly size: number;
  /** The volume's content at the cut (the simulator's stand-in for blocks). */
  readonly data: string;
}

export interface ArrayVolume {
  readonly id: string;
  readonly poolId: string;
  size: number;
  data: string;
  /** Oldest first. */
  snapshots: ArrayVolumeSnapshot[];
}

/** A volume as a caller names it; created in `poolId` if the array does not know it yet. */
export interface VolumeRequest {
  readonly volumeId: string;
  readonly poolId: string;
  readonly size: number;
}

export type ArrayErrorCode = 'INJECTED_FAULT' | 'NOT_LATEST' | 'LIMIT_REACHED' | 'NOT_FOUND' | 'BUSY';

/** An array-side failure with a machine-readable code (a vendor API's error body). */
export class ArrayError extends Error {
  override readonly name = 'ArrayError';
  constructor(
    readonly code: ArrayErrorCode,
    message: string,
    /** For NOT_LATEST: the newer snapshot ids that block the revert. */
    readonly blockers: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Compare-and-set attempts of one change when other servers change the array at the same moment. */
const MAX_SHARED_RACES = 100;

interface PersistedState {
  readonly version: 1;
  readonly sequence: number;
  readonly pools: string[];
  readonly volumes: ArrayVolume[];
}

/** One call's round trip: `endedAt` is NaN while it is in flight. */
export interface CallInterval {
  readonly op: ArrayOperation;
  readonly startedAt: number;
  endedAt: number;
}

export class SimulatedArray {
  readonly latencyMs: number;
  readonly revertMode: RevertMode;
  readonly maxSnapshotsPerVolume: number | null;
  private readonly stateFile: string | null;
  private readonly shared: SimulatedArrayOptions['shared'];
  /** The version of the shared document this copy reflects; null before it exists. */
  private sharedVersion: number | null = null;
  /** One change at a time in this process: a retried change never sees its own earlier attempt. */
  private changing: Promise<unknown> = Promise.resolve();
  private readonly optionPools: readonly string[];
  private readonly pools = new Set<string>();
  private readonly volumes = new Map<string, ArrayVolume>();
  private readonly pendingFaults = new Map<ArrayOperation, { count: number; message: string }>();
  private readonly calls = new Map<ArrayOperation, number>();
  private readonly intervals: CallInterval[] = [];
  private sequence = 0;

  constructor(options: SimulatedArrayOptions) {
    this.stateFile = options.shared === undefined ? options.stateFile : null;
    this.shared = options.shared;
    this.optionPools = options.pools ?? [];
    this.latencyMs = options.latencyMs ?? 0;
    this.revertMode = options.revertMode ?? 'any';
    this.maxSnapshotsPerVolume = options.maxSnapshotsPerVolume ?? null;
    this.load();
    for (const pool of options.pools ?? []) this.pools.add(pool);
    for (const fault of options.faults ?? []) this.failNext(fault);
    this.save();
  }

  // ----- runtime controls ------------------------------------------------------------------------

  /** Arms a fault: the next `count` calls of `op` fail with `message`. Adds to any armed count. */
  failNext(fault: ArrayFault): void {
    if (!Number.isInteger(fault.count) || fault.count < 0) {
      throw new Error(`fault count must be a non-negative integer, got ${fault.count}`);
    }
    const current = this.pendingFaults.get(fault.op)?.count ?? 0;
    const message = fault.message ?? `injected ${fault.op} fault`;
    this.pendingFaults.set(fault.op, { count: current + fault.count, message });
  }

  clearFaults(): void {
    this.pendingFaults.clear();
  }

  /** How many calls of each operation the array received (faulted ones included). */
  callCount(op: ArrayOperation): number {
    return this.calls.get(op) ?? 0;
  }

  /**
   * When each call of `op` began and when its round trip ended (performance.now()), so a test can
   * see that two arrays' calls overlapped without asserting how long anything took.
   */
  callIntervals(op: ArrayOperation): readonly CallInterval[] {
    return this.intervals.filter((i) => i.op === op);
  }

  // ----- inventory -------------------------------------------------------------------------------

  listPools(): string[] {
    return [...this.pools].sort();
  }

  getVolume(volumeId: string): Readonly<ArrayVolume> | undefined {
    return this.volumes.get(volumeId);
  }

  /** Simulates guest writes, so tests can see a revert bring old content back. */
  writeVolume(request: VolumeRequest, data: string): void {
    this.ensureVolume(request).data = data;
    this.save();
    // Shared: the write reaches the document with the next change (or here, in the background).
    if (this.shared !== undefined) {
      this.change(() => {
        this.ensureVolume(request).data = data;
      }).catch(() => undefined);
    }
  }

  // ----- snapshot operations (each one array round trip) -----------------------------------------

  /** One consistency-group cut across all `members`: every member or none gets a snapshot. */
  async snapshotGroup(members: readonly VolumeRequest[], name: string): Promise<ArrayVolumeSnapshot[]> {
    await this.roundTrip('take');
    return this.change(() => {
      const volumes = members.map((m) => this.ensureVolume(m));
      this.checkLimit(volumes);
      const groupId = `cg-${this.nextId()}`;
      const createdAt = Date.now();
      return volumes.map((volume) => {
        const snapshot: ArrayVolumeSnapshot = {
          id: `snap-${this.nextId()}`,
          groupId,
          name,
          createdAt,
          size: volume.size,
          data: volume.data,
        };
        volume.snapshots.push(snapshot);
        return snapshot;
      });
    });
  }

  /** Reverts every target, after checking all of them, so a refused revert changes nothing. */
  async revertGroup(targets: readonly { volumeId: string; snapshotId: string }[]): Promise<void> {
    await this.roundTrip('revert');
    await this.change(() => {
      const resolved = targets.map((t) => this.resolveRevert(t.volumeId, t.snapshotId));
      for (const { volume, snapshot } of resolved) {
        volume.data = snapshot.data;
        volume.size = snapshot.size;
      }
    });
  }

  /** Deletes snapshots; ones already gone (or on unknown volumes) count as deleted. */
  async deleteSnapshots(targets: readonly { volumeId: string; snapshotId: string }[]): Promise<void> {
    await this.roundTrip('delete');
    await this.change(() => {
      for (const { volumeId, snapshotId } of targets) {
        const volume = this.volumes.get(volumeId);
        if (volume) volume.snapshots = volume.snapshots.filter((s) => s.id !== snapshotId);
      }
    });
  }

  /**
   * Whether `volumeId` can be reverted to `snapshotId` now, asked before any revert: the snapshot
   * must exist and, in `latest-only` mode, have no newer snapshots (returned as `newer`).
   */
  async revertBlockers(
    volumeId: string,
    snapshotId: string,
  ): Promise<{ readonly missing: boolean; readonly newer: readonly string[] }> {
    await this.roundTrip('list');
    await this.refresh();
    return this.blockersOf(volumeId, snapshotId);
  }

  /** Snapshot ids of a volume, oldest first; an unknown volume has none. */
  /** Bytes held by the volumes of one pool (a vendor's pool-capacity call; faults as `list`). */
  async poolUsage(poolId: string): Promise<number> {
    await this.roundTrip('list');
    await this.refresh();
    let used = 0;
    for (const v of this.volumes.values()) if (v.poolId === poolId) used += v.size;
    return used;
  }

  async listSnapshots(volumeId: string): Promise<string[]> {
    await this.roundTrip('list');
    await this.refresh();
    return (this.volumes.get(volumeId)?.snapshots ?? []).map((s) => s.id);
  }

  /** Reads the shared document again when another server changed it (no-op without one). */
  async refresh(): Promise<void> {
    if (this.shared === undefined) return;
    const doc = await this.shared.store.get(this.shared.key);
    if (doc === undefined || doc.version === this.sharedVersion) return;
    this.applyState(JSON.parse(doc.value) as PersistedState);
    this.sharedVersion = doc.version;
  }

  // ----- internals -------------------------------------------------------------------------------

  /**
   * Applies `mutate` to the array and saves it. Shared: read the document, apply, compare-and-set;
   * another server's write in between makes this read and apply again on its result. A mutation
   * that throws (a refusal) writes nothing.
   */
  private change<T>(mutate: () => T): Promise<T> {
    const run = this.changing.catch(() => undefined).then(() => this.changeNow(mutate));
    this.changing = run;
    return run;
  }

  private async changeNow<T>(mutate: () => T): Promise<T> {
    const shared = this.shared;
    if (shared === undefined) {
      const result = mutate();
      this.save();
      return result;
    }
    for (let race = 0; race < MAX_SHARED_RACES; race += 1) {
      await this.refresh();
      const result = mutate();
      const expected = this.sharedVersion;
      if (await shared.store.put(shared.key, JSON.stringify(this.state()), expected)) {
        this.sharedVersion = (expected ?? 0) + 1;
        return result;
      }
      this.sharedVersion = -1; // lost the race: the next refresh reads the winner's document
    }
    throw new ArrayError('BUSY', `the array's state kept changing under this call: try again`);
  }

  private state(): PersistedState {
    return {
      version: 1,
      sequence: this.sequence,
      pools: this.listPools(),
      volumes: [...this.volumes.values()],
    };
  }

  private applyState(state: PersistedState): void {
    if (state.version !== 1) throw new Error('unsupported array state version');
    this.sequence = state.sequence;
    this.pools.clear();
    for (const pool of [...state.pools, ...this.optionPools]) this.pools.add(pool);
    this.volumes.clear();
    for (const volume of state.volumes) this.volumes.set(volume.id, volume);
  }

  private async roundTrip(op: ArrayOperation): Promise<void> {
    this.calls.set(op, this.callCount(op) + 1);
    const interval: CallInterval = { op, startedAt: performance.now(), endedAt: Number.NaN };
    this.intervals.push(interval);
    if (this.intervals.length > 1000) this.intervals.shift(); // a bounded log, for tests
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    interval.endedAt = performance.now();
    const fault = this.pendingFaults.get(op);
    if (fault && fault.count > 0) {
      fault.count -= 1;
      throw new ArrayError('INJECTED_FAULT', fault.message);
    }
  }

  private ensureVolume(request: VolumeRequest): ArrayVolume {
    const existing = this.volumes.get(request.volumeId);
    if (existing) return existing;
    this.pools.add(request.poolId);
    const volume: ArrayVolume = {
      id: request.volumeId,
      poolId: request.poolId,
      size: request.size,
      data: '',
      snapshots: [],
    };
    this.volumes.set(volume.id, volume);
    return volume;
  }

  private checkLimit(volumes: readonly ArrayVolume[]): void {
    const max = this.maxSnapshotsPerVolume;
    if (max === null) return;
    const full = volumes.filter((v) => v.snapshots.length >= max).map((v) => v.id);
    if (full.length > 0) {
      throw new ArrayError(
        'LIMIT_REACHED',
        `volume(s) ${full.join(', ')} already have ${max} snapshots (array limit)`,
      );
    }
  }

  private blockersOf(volumeId: string, snapshotId: string): { missing: boolean; newer: string[] } {
    const snapshots = this.volumes.get(volumeId)?.snapshots ?? [];
    const index = snapshots.findIndex((s) => s.id === snapshotId);
    if (index < 0) return { missing: true, newer: [] };
    const newer = snapshots.slice(index + 1).map((s) => s.id);
    return { missing: false, newer: this.revertMode === 'latest-only' ? newer : [] };
  }

  private resolveRevert(
    volumeId: string,
    snapshotId: string,
  ): { volume: ArrayVolume; snapshot: ArrayVolumeSnapshot } {
    const volume = this.volumes.get(volumeId);
    const snapshot = volume?.snapshots.find((s) => s.id === snapshotId);
    if (!volume || !snapshot) {
      throw new ArrayError(
        'NOT_FOUND',
        `snapshot ${snapshotId} of volume ${volumeId} does not exist on the array`,
      );
    }
    const { newer } = this.blockersOf(volumeId, snapshotId);
    if (newer.length > 0) {
      throw new ArrayError(
        'NOT_LATEST',
        `cannot revert volume ${volumeId} to ${snapshotId}: only the latest snapshot can be reverted; newer: ${newer.join(', ')}`,
        newer,
      );
    }
    return { volume, snapshot };
  }

  private nextId(): string {
    this.sequence += 1;
    return String(this.sequence).padStart(6, '0');
  }

  private load(): void {
    if (this.stateFile === null || !existsSync(this.stateFile)) return;
    const state = JSON.parse(readFileSync(this.stateFile, 'utf8')) as PersistedState;
    if (state.version !== 1) throw new Error(`unsupported array state version in ${this.stateFile}`);
    this.sequence = state.sequence;
    for (const pool of state.pools) this.pools.add(pool);
    for (const volume of state.volumes) this.volumes.set(volume.id, volume);
  }

  /** Atomic: a crash mid-write leaves the previous file intact, never a torn one. */
  private save(): void {
    if (this.stateFile === null) return;
    const state = this.state();
    // Under the server's data dir: private to its user, like everything else there.
    mkdirSync(dirname(this.stateFile), { recursive: true, mode: 0o700 });
    const temp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(state, null, 2), { mode: 0o600 });
    renameSync(temp, this.stateFile);
  }
}
