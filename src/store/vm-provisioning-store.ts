/**
 * The rows of a VM being deployed: its instance name (chosen inside the reservation's transaction),
 * its volumes once the host created them, and the rows of a deploy that failed.
 */
import type { Transaction } from 'kysely';
import type { Db } from './database.ts';
import type { Database } from './schema.ts';

/** The next free `i-2-<n>-VM` name, read in the transaction that inserts the VM. */
export async function nextInstanceName(conn: Transaction<Database>): Promise<string> {
  const rows = await conn.selectFrom('vms').select('instance_name').execute();
  let max = 0;
  for (const r of rows) {
    const m = /^i-\d+-(\d+)-VM$/.exec(r.instance_name);
    if (m?.[1] !== undefined) max = Math.max(max, Number(m[1]));
  }
  return `i-2-${max + 1}-VM`;
}

/** Volumes the host has created: their paths (and sizes, when known) and state Ready, all at once. */
export async function markVolumesCreated(
  db: Db,
  volumes: readonly { readonly id: string; readonly path: string; readonly size?: number }[],
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const v of volumes) {
      await trx
        .updateTable('volumes')
        .set({ path: v.path, state: 'Ready', ...(v.size !== undefined ? { size: v.size } : {}) })
        .where('id', '=', v.id)
        .execute();
    }
  });
}

/** A deploy that failed: the VM and its volumes are marked removed. */
export async function discardVm(db: Db, vmId: string): Promise<void> {
  const now = Date.now();
  await db.updateTable('volumes').set({ removed: now, state: 'Destroy' }).where('vm_id', '=', vmId).execute();
  await db.updateTable('vms').set({ removed: now, state: 'Destroyed' }).where('id', '=', vmId).execute();
}
