/**
 * Storage pool rows: the pools operators declare (createStoragePool) and hosts report. A pool's URL
 * and details may hold a storage key: the store's connection seals them at rest
 * (./secret-columns.ts), so they are plain here and must never reach an API response unmasked.
 */
import type { PoolScope, StoragePoolInfo } from '../core/plugin-api.ts';
import type { Db } from './database.ts';
import type { PoolRow } from './schema.ts';

export const POOL_STATES = ['Up', 'Disabled', 'Maintenance'] as const;
export type PoolState = (typeof POOL_STATES)[number];

export interface StoredPool {
  readonly id: string;
  readonly zoneId: string;
  readonly name: string;
  /** The storage driver (createStoragePool `provider`) that serves the pool. */
  readonly driver: string;
  readonly path: string;
  readonly hostId: string | null;
  readonly capacityBytes: number;
  readonly usedBytes: number;
  /** Plain (may hold a key). */
  readonly url: string;
  /** Plain (may hold a key). */
  readonly details: Readonly<Record<string, string>>;
  readonly scope: PoolScope;
  readonly state: PoolState;
  readonly tags: readonly string[];
  readonly created: number;
  readonly removed: boolean;
}

export interface NewPool {
  readonly id: string;
  readonly zoneId: string;
  readonly name: string;
  readonly driver: string;
  readonly path: string;
  readonly hostId: string | null;
  readonly capacityBytes: number;
  readonly url: string;
  readonly details: Readonly<Record<string, string>>;
  readonly scope: PoolScope;
  readonly tags: readonly string[];
  readonly created: number;
}

/** What updateStoragePool may change. */
export interface PoolChanges {
  readonly name?: string;
  readonly tags?: readonly string[];
  readonly capacityBytes?: number;
  readonly state?: PoolState;
}

export async function insertStoragePool(db: Db, pool: NewPool): Promise<void> {
  await db
    .insertInto('storage_pools')
    .values({
      id: pool.id,
      zone_id: pool.zoneId,
      name: pool.name,
      driver: pool.driver,
      path: pool.path,
      host_id: pool.hostId,
      capacity_bytes: pool.capacityBytes,
      used_bytes: 0,
      pool_url: pool.url,
      pool_details: JSON.stringify(pool.details),
      scope: pool.scope,
      state: 'Up',
      tags: pool.tags.join(','),
      created: pool.created,
      removed: null,
    })
    .execute();
}

export async function updateStoragePool(db: Db, id: string, changes: PoolChanges): Promise<void> {
  const set = {
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.tags !== undefined ? { tags: changes.tags.join(',') } : {}),
    ...(changes.capacityBytes !== undefined ? { capacity_bytes: changes.capacityBytes } : {}),
    ...(changes.state !== undefined ? { state: changes.state } : {}),
  };
  if (Object.keys(set).length === 0) return;
  await db.updateTable('storage_pools').set(set).where('id', '=', id).execute();
}

/** Capacity and use as the provider last reported them. */
export async function recordPoolStats(
  db: Db,
  id: string,
  capacityBytes: number,
  usedBytes: number,
): Promise<void> {
  await db
    .updateTable('storage_pools')
    .set({ capacity_bytes: capacityBytes, used_bytes: usedBytes })
    .where('id', '=', id)
    .execute();
}

/** Live volumes on a pool. */
export async function volumesOnPool(db: Db, poolId: string): Promise<number> {
  const row = await db
    .selectFrom('volumes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('pool_id', '=', poolId)
    .where('removed', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Allocated bytes per pool: the sizes of its live volumes (CloudStack's disksizeallocated). */
export async function allocatedBytesByPool(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('volumes')
    .select((eb) => ['pool_id', eb.fn.sum<number>('size').as('bytes')])
    .where('removed', 'is', null)
    .groupBy('pool_id')
    .execute();
  return new Map(rows.map((r) => [r.pool_id, Number(r.bytes)]));
}

/**
 * Marks the pool removed unless a live volume uses it, in one transaction so a deploy cannot slip a
 * volume in between the check and the removal. Returns the number of volumes that kept it.
 */
export async function removeStoragePool(db: Db, id: string, now: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const inUse = await volumesOnPool(trx, id);
    if (inUse > 0) return inUse;
    await trx.updateTable('storage_pools').set({ removed: now }).where('id', '=', id).execute();
    return 0;
  });
}

export function toStoredPool(r: PoolRow): StoredPool {
  return {
    id: r.id,
    zoneId: r.zone_id,
    name: r.name,
    driver: r.driver,
    path: r.path,
    hostId: r.host_id,
    capacityBytes: Number(r.capacity_bytes),
    usedBytes: Number(r.used_bytes),
    url: r.pool_url,
    details: parseDetails(r.pool_details),
    scope: r.scope === 'HOST' ? 'HOST' : 'ZONE',
    state: (POOL_STATES as readonly string[]).includes(r.state) ? (r.state as PoolState) : 'Up',
    tags: r.tags === '' ? [] : r.tags.split(','),
    created: Number(r.created),
    removed: r.removed !== null,
  };
}

/** The pool as drivers see it. */
export function poolInfoOf(p: StoredPool): StoragePoolInfo {
  return {
    id: p.id,
    name: p.name,
    zoneId: p.zoneId,
    provider: p.driver,
    url: p.url,
    details: p.details,
    scope: p.scope,
    hostId: p.hostId,
    path: p.path,
  };
}

function parseDetails(text: string): Record<string, string> {
  const parsed: unknown = JSON.parse(text === '' ? '{}' : text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  return Object.fromEntries(
    Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}
