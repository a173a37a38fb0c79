/**
 * Host and pool rows as addHost, heartbeats and the seed write them, and the identity checks a
 * host's VM report is imported under (a name, uuid or volume id already taken is not imported).
 */
import type { Insertable } from 'kysely';
import type { Db } from './database.ts';
import type { HostTable, StoragePoolTable } from './schema.ts';

export async function insertHost(db: Db, host: Insertable<HostTable>): Promise<void> {
  await db.insertInto('hosts').values(host).execute();
}

/** Forgets a host that never came up (addHost whose agent did not answer). */
export async function deleteHost(db: Db, id: string): Promise<void> {
  await db.deleteFrom('hosts').where('id', '=', id).execute();
}

export async function insertPool(db: Db, pool: Insertable<StoragePoolTable>): Promise<void> {
  await db.insertInto('storage_pools').values(pool).execute();
}

/** Where a VM row sits: enough to say which host holds it, or that it was removed. */
export interface VmPlacementRow {
  readonly id: string;
  readonly host_id: string | null;
  readonly last_host_id: string | null;
  readonly removed: number | null;
}

/** The VM row (live or removed) that has this instance name, or this id. */
export async function vmWith(
  db: Db,
  by: { readonly instanceName: string } | { readonly id: string },
): Promise<VmPlacementRow | undefined> {
  const q = db.selectFrom('vms').select(['id', 'host_id', 'last_host_id', 'removed']);
  return (
    'instanceName' in by ? q.where('instance_name', '=', by.instanceName) : q.where('id', '=', by.id)
  ).executeTakeFirst();
}

/** One of these volume ids that a volume row (live or removed) already has, if any. */
export async function takenVolumeId(db: Db, ids: readonly string[]): Promise<string | undefined> {
  if (ids.length === 0) return undefined;
  return (
    await db
      .selectFrom('volumes')
      .select('id')
      .where('id', 'in', [...ids])
      .executeTakeFirst()
  )?.id;
}
