/**
 * VM snapshot rows: reads, optimistic state transitions, and the tree updates of create, revert
 * and delete, each in one transaction so the tree is never seen half-updated.
 */
import type { Transaction } from 'kysely';
import type {
  VmSnapshotInfo,
  VmSnapshotState,
  VmSnapshotType,
  VolumeSnapshotRecord,
} from '../core/plugin-api.ts';
import { ConcurrentOperationError } from '../core/errors.ts';
import { transition, type VmSnapshotEvent } from '../core/vm-snapshot-state.ts';
import { CompiledStatement } from './compiled-query.ts';
import { isUniqueViolation, type Db } from './database.ts';
import type { Database, VmSnapshotRow, VmSnapshotVolumeRow } from './schema.ts';

export type SnapshotDetails = Record<string, string | number | boolean>;

export interface StoredVmSnapshot extends VmSnapshotInfo {
  readonly vmId: string;
  readonly accountId: string;
  readonly updateCount: number;
  readonly options: Readonly<Record<string, string>>;
  readonly details: Readonly<SnapshotDetails>;
  readonly removed: number | null;
  readonly updated: number;
  /** The VM snapshot policy that took it (issue 13); null for a manual snapshot. */
  readonly policyId: string | null;
}

/** Thrown when a transition lost a race (another writer changed the row first). */
export class ConcurrentUpdateError extends ConcurrentOperationError {
  constructor(id: string, expected: VmSnapshotState) {
    super(`VM snapshot ${id} was changed concurrently (expected state ${expected})`);
  }
}

/** Thrown when another live snapshot of the VM took the name or display name first (a lost race). */
export class SnapshotNameTakenError extends Error {
  constructor(vmId: string, name: string, displayName: string) {
    super(`VM ${vmId} already has a live snapshot named ${name} or displayed as ${displayName}`);
    this.name = 'SnapshotNameTakenError';
  }
}

/** What a create allocates: the row starts Allocated, with no parent, no volumes and no facts. */
export interface NewVmSnapshot {
  readonly id: string;
  readonly vmId: string;
  readonly accountId: string;
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly type: VmSnapshotType;
  readonly strategy: string;
  readonly quiesce: boolean;
  readonly options: Record<string, string>;
  readonly created: number;
  readonly policyId?: string | null;
}

export class VmSnapshotStore {
  /** The reads every job and poll makes, compiled once (src/store/compiled-query.ts). */
  private readonly reads = snapshotReads();

  constructor(private readonly db: Db) {}

  async get(id: string, includeRemoved = false): Promise<StoredVmSnapshot | undefined> {
    const read = includeRemoved ? this.reads.anyById : this.reads.liveById;
    const row = (await read.execute(this.db, { id })).rows[0];
    return row === undefined ? undefined : this.hydrate(row);
  }

  /** All non-removed snapshots of a VM in any state (CloudStack's findByVm), with their records. */
  async listByVm(vmId: string): Promise<StoredVmSnapshot[]> {
    const { rows } = await this.reads.liveOfVm.execute(this.db, { vmId });
    if (rows.length === 0) return [];
    const vols = (await this.reads.liveVolumesOfVm.execute(this.db, { vmId })).rows;
    return withVolumes(rows, vols);
  }

  async listInStates(states: readonly VmSnapshotState[]): Promise<StoredVmSnapshot[]> {
    const rows = await this.db
      .selectFrom('vm_snapshots')
      .selectAll()
      .where('state', 'in', [...states])
      .where('removed', 'is', null)
      .orderBy('created')
      .execute();
    return this.hydrateMany(rows);
  }

  /** Stores a new Allocated snapshot; `via`: a transaction to write it in (its job's, say). */
  async insert(s: NewVmSnapshot, via: Db = this.db): Promise<StoredVmSnapshot> {
    const row: VmSnapshotRow = {
      id: s.id,
      vm_id: s.vmId,
      account_id: s.accountId,
      name: s.name,
      display_name: s.displayName,
      description: s.description,
      type: s.type,
      state: 'Allocated',
      parent_id: null,
      current: 0,
      strategy: s.strategy,
      quiesce: s.quiesce ? 1 : 0,
      options: JSON.stringify(s.options),
      details: '{}',
      update_count: 0,
      created: s.created,
      updated: s.created,
      removed: null,
      policy_id: s.policyId ?? null,
    };
    try {
      await via.insertInto('vm_snapshots').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new SnapshotNameTakenError(s.vmId, s.name, s.displayName);
      throw err;
    }
    // The row is exactly what was written: no need to read it back.
    return snapshotFromRow(row, []);
  }

  /**
   * Fires a state-machine event with optimistic concurrency: the row must still be in the state and
   * update_count we read. Extra columns are written in the same statement.
   */
  async fire(
    snap: StoredVmSnapshot,
    event: VmSnapshotEvent,
    extra: { parentId?: string | null; details?: SnapshotDetails; current?: boolean } = {},
    trx?: Transaction<Database>,
  ): Promise<StoredVmSnapshot> {
    const to = transition(snap.state, event);
    const now = Date.now();
    const details =
      extra.details === undefined ? undefined : JSON.stringify({ ...snap.details, ...extra.details });
    const res = await (trx ?? this.db)
      .updateTable('vm_snapshots')
      .set({
        state: to,
        update_count: snap.updateCount + 1,
        updated: now,
        ...(extra.parentId !== undefined ? { parent_id: extra.parentId } : {}),
        ...(details !== undefined ? { details } : {}),
        ...(extra.current !== undefined ? { current: extra.current ? 1 : 0 } : {}),
      })
      .where('id', '=', snap.id)
      .where('state', '=', snap.state)
      .where('update_count', '=', snap.updateCount)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new ConcurrentUpdateError(snap.id, snap.state);
    return {
      ...snap,
      state: to,
      updateCount: snap.updateCount + 1,
      updated: now,
      parentId: extra.parentId !== undefined ? extra.parentId : snap.parentId,
      details: details !== undefined ? (JSON.parse(details) as SnapshotDetails) : snap.details,
      current: extra.current ?? snap.current,
    };
  }

  async mergeDetails(id: string, details: SnapshotDetails): Promise<void> {
    const snap = await this.get(id, true);
    if (snap === undefined) return;
    await this.db
      .updateTable('vm_snapshots')
      .set({ details: JSON.stringify({ ...snap.details, ...details }) })
      .where('id', '=', id)
      .execute();
  }

  /** Create succeeded: records kept, volumes moved, the new snapshot becomes the only current one. */
  async finalizeCreate(
    snap: StoredVmSnapshot,
    records: readonly VolumeSnapshotRecord[],
    volumeUpdates: readonly { volumeId: string; path?: string; size?: number }[],
    details: SnapshotDetails,
  ): Promise<StoredVmSnapshot> {
    return this.db.transaction().execute(async (trx) => {
      // Records from an earlier finalize would be replaced; `snap` as read has none on a first take
      // (and if one had finished since, the guarded fire below would fail and roll this back).
      if (snap.volumes.length > 0)
        await trx.deleteFrom('vm_snapshot_volumes').where('snapshot_id', '=', snap.id).execute();
      if (records.length > 0)
        await trx
          .insertInto('vm_snapshot_volumes')
          .values(
            records.map((r) => ({
              snapshot_id: snap.id,
              volume_id: r.volumeId,
              driver: r.driver,
              path: r.path,
              size: r.size,
              ref: r.ref,
            })),
          )
          .execute();
      await applyVolumeUpdates(trx, volumeUpdates);
      await clearCurrent(trx, snap.vmId, snap.id);
      const done = await this.fire(snap, 'OperationSucceeded', { details, current: true }, trx);
      return { ...done, volumes: records };
    });
  }

  /** Revert succeeded: volumes moved and the reverted-to snapshot is current. */
  async finalizeRevert(
    snap: StoredVmSnapshot,
    volumeUpdates: readonly { volumeId: string; path?: string; size?: number }[],
    details: SnapshotDetails,
  ): Promise<StoredVmSnapshot> {
    return this.db.transaction().execute(async (trx) => {
      await applyVolumeUpdates(trx, volumeUpdates);
      await clearCurrent(trx, snap.vmId, snap.id);
      return this.fire(snap, 'OperationSucceeded', { details, current: true }, trx);
    });
  }

  /**
   * Delete succeeded: children re-parented to the deleted snapshot's parent, `current` moved to the
   * parent if the deleted one was current, and the row soft-removed (state Removed).
   */
  async finalizeDelete(
    snap: StoredVmSnapshot,
    volumeUpdates: readonly { volumeId: string; path?: string; size?: number }[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await applyVolumeUpdates(trx, volumeUpdates);
      const removed =
        snap.state === 'Expunging' ? await this.fire(snap, 'OperationSucceeded', {}, trx) : snap;
      await removeFromTree(trx, removed);
    });
  }

  /** Forget a snapshot that never reached the hypervisor (Allocated) or is dropped from the DB only. */
  async removeRow(snap: StoredVmSnapshot): Promise<void> {
    await this.db.transaction().execute((trx) => removeFromTree(trx, snap));
  }

  /** Parent chain, nearest first, stopping at a missing or looping link; `known` rows save reads. */
  async parentChain(
    snap: VmSnapshotInfo,
    known: readonly StoredVmSnapshot[] = [],
  ): Promise<StoredVmSnapshot[]> {
    const chain: StoredVmSnapshot[] = [];
    const seen = new Set<string>([snap.id]);
    const byId = new Map(known.map((k) => [k.id, k]));
    let parentId = snap.parentId;
    while (parentId !== null && !seen.has(parentId)) {
      seen.add(parentId);
      const parent = byId.get(parentId) ?? (await this.get(parentId, true));
      if (parent === undefined) break;
      chain.push(parent);
      parentId = parent.parentId;
    }
    return chain;
  }

  private async hydrateMany(rows: VmSnapshotRow[]): Promise<StoredVmSnapshot[]> {
    if (rows.length === 0) return [];
    const vols = await this.db
      .selectFrom('vm_snapshot_volumes')
      .selectAll()
      .where(
        'snapshot_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return withVolumes(rows, vols);
  }

  private async hydrate(row: VmSnapshotRow): Promise<StoredVmSnapshot> {
    const vols = (await this.reads.volumesOf.execute(this.db, { id: row.id })).rows;
    return snapshotFromRow(row, vols);
  }
}

function withVolumes(
  rows: readonly VmSnapshotRow[],
  vols: readonly VmSnapshotVolumeRow[],
): StoredVmSnapshot[] {
  const bySnap = new Map<string, VmSnapshotVolumeRow[]>();
  for (const v of vols) bySnap.set(v.snapshot_id, [...(bySnap.get(v.snapshot_id) ?? []), v]);
  return rows.map((r) => snapshotFromRow(r, bySnap.get(r.id) ?? []));
}

function snapshotReads() {
  return {
    liveById: new CompiledStatement<{ id: string }, VmSnapshotRow>(
      (db: Db, s) =>
        db.selectFrom('vm_snapshots').selectAll().where('id', '=', s.id).where('removed', 'is', null),
      ['id'],
    ),
    anyById: new CompiledStatement<{ id: string }, VmSnapshotRow>(
      (db: Db, s) => db.selectFrom('vm_snapshots').selectAll().where('id', '=', s.id),
      ['id'],
    ),
    volumesOf: new CompiledStatement<{ id: string }, VmSnapshotVolumeRow>(
      (db: Db, s) => db.selectFrom('vm_snapshot_volumes').selectAll().where('snapshot_id', '=', s.id),
      ['id'],
    ),
    liveOfVm: new CompiledStatement<{ vmId: string }, VmSnapshotRow>(
      (db: Db, s) =>
        db
          .selectFrom('vm_snapshots')
          .selectAll()
          .where('vm_id', '=', s.vmId)
          .where('removed', 'is', null)
          .orderBy('created'),
      ['vmId'],
    ),
    /** The records of a VM's live snapshots: a fixed statement, where an `in` list of ids is not. */
    liveVolumesOfVm: new CompiledStatement<{ vmId: string }, VmSnapshotVolumeRow>(
      (db: Db, s) =>
        db
          .selectFrom('vm_snapshot_volumes')
          .selectAll()
          .where('snapshot_id', 'in', (eb) =>
            eb
              .selectFrom('vm_snapshots')
              .select('id')
              .where('vm_id', '=', s.vmId)
              .where('removed', 'is', null),
          ),
      ['vmId'],
    ),
  };
}

/**
 * The VM's current snapshot is current no more: only the live row that has the flag is written
 * (a removed row never has it), not every row of the VM's history. `next`, about to become current
 * (its own guarded transition sets the flag), is left alone.
 */
async function clearCurrent(trx: Transaction<Database>, vmId: string, next: string): Promise<void> {
  await trx
    .updateTable('vm_snapshots')
    .set({ current: 0 })
    .where('vm_id', '=', vmId)
    .where('removed', 'is', null)
    .where('current', '=', 1)
    .where('id', '!=', next)
    .execute();
}

/**
 * Takes a snapshot out of its VM's tree: children move up to its parent, `current` moves to the parent
 * if it was on this one, and the row is soft-removed. Its children are found through
 * vm_snapshots_live_parent (migration 0013): without it this update read every snapshot row.
 */
async function removeFromTree(trx: Transaction<Database>, snap: StoredVmSnapshot): Promise<void> {
  await trx
    .updateTable('vm_snapshots')
    .set({ parent_id: snap.parentId })
    .where('parent_id', '=', snap.id)
    .where('removed', 'is', null)
    .execute();
  if (snap.current && snap.parentId !== null) {
    await trx.updateTable('vm_snapshots').set({ current: 1 }).where('id', '=', snap.parentId).execute();
  }
  const now = Date.now();
  await trx
    .updateTable('vm_snapshots')
    .set({ removed: now, current: 0, updated: now })
    .where('id', '=', snap.id)
    .execute();
}

async function applyVolumeUpdates(
  trx: Transaction<Database>,
  updates: readonly { volumeId: string; path?: string; size?: number }[],
): Promise<void> {
  for (const u of updates) {
    if (u.path === undefined && u.size === undefined) continue;
    await trx
      .updateTable('volumes')
      .set({
        ...(u.path !== undefined ? { path: u.path } : {}),
        ...(u.size !== undefined ? { size: u.size } : {}),
      })
      .where('id', '=', u.volumeId)
      .execute();
  }
}

/** A snapshot row (and its volume records) as the manager and the API see it. */
export function snapshotFromRow(r: VmSnapshotRow, vols: readonly VmSnapshotVolumeRow[]): StoredVmSnapshot {
  return {
    id: r.id,
    vmId: r.vm_id,
    accountId: r.account_id,
    name: r.name,
    displayName: r.display_name,
    description: r.description,
    type: r.type as VmSnapshotType,
    state: r.state as VmSnapshotState,
    parentId: r.parent_id,
    current: r.current === 1,
    strategy: r.strategy,
    quiesce: r.quiesce === 1,
    createdAt: Number(r.created),
    updated: Number(r.updated),
    removed: r.removed === null ? null : Number(r.removed),
    updateCount: r.update_count,
    options: JSON.parse(r.options) as Record<string, string>,
    details: JSON.parse(r.details) as SnapshotDetails,
    policyId: r.policy_id ?? null,
    volumes: vols.map((v) => ({
      volumeId: v.volume_id,
      driver: v.driver,
      path: v.path,
      size: Number(v.size),
      ref: v.ref,
    })),
  };
}
