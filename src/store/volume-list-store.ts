/** Volume reads for listVolumes and tag ownership: live volume rows, and who owns a volume. */
import type { Db } from './database.ts';

export interface VolumeListRow {
  readonly id: string;
  readonly vmId: string | null;
  readonly state: string;
  readonly created: number;
}

/** Every volume not removed, oldest first. */
export async function listLiveVolumes(db: Db): Promise<VolumeListRow[]> {
  const rows = await db
    .selectFrom('volumes')
    .select(['id', 'vm_id', 'state', 'created'])
    .where('removed', 'is', null)
    .orderBy('created')
    .execute();
  return rows.map((r) => ({ id: r.id, vmId: r.vm_id, state: r.state, created: Number(r.created) }));
}

/** The account owning a volume's VM, or undefined when there is no such volume (or no VM). */
export async function volumeOwner(db: Db, volumeId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('volumes as v')
    .innerJoin('vms as m', 'm.id', 'v.vm_id')
    .select('m.account_id')
    .where('v.id', '=', volumeId)
    .executeTakeFirst();
  return row?.account_id;
}
