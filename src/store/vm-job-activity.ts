/** Whether a VM's job queue has work in it (a policy run waits for it rather than queue behind it). */
import type { Db } from './database.ts';
import type { AsyncJobRow } from './schema.ts';

/** The oldest queued or running job on the VM's queue, if any. */
export async function activeJobOf(db: Db, vmId: string): Promise<AsyncJobRow | undefined> {
  return db
    .selectFrom('async_jobs')
    .selectAll()
    .where('queue_key', '=', vmId)
    .where('status', 'in', ['queued', 'running'])
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
}
