/** listVMSnapshot's first read: which live snapshot rows match the ids and VM asked for. */
import type { Db } from './database.ts';

export interface SnapshotIdFilter {
  /** Only these snapshots (an empty list matches none). */
  readonly ids?: readonly string[] | undefined;
  readonly vmId?: string | undefined;
}

export interface SnapshotIdRow {
  readonly id: string;
  readonly vmId: string;
}

export async function matchingSnapshotIds(db: Db, filter: SnapshotIdFilter): Promise<SnapshotIdRow[]> {
  let q = db.selectFrom('vm_snapshots').select(['id', 'vm_id']).where('removed', 'is', null);
  if (filter.ids !== undefined) q = q.where('id', 'in', filter.ids.length > 0 ? [...filter.ids] : ['-']);
  if (filter.vmId !== undefined) q = q.where('vm_id', '=', filter.vmId);
  return (await q.execute()).map((r) => ({ id: r.id, vmId: r.vm_id }));
}
