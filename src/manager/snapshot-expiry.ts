/**
 * vmsnapshot.expire.interval (hours, -1 = off): snapshots older than that are deleted through the
 * normal delete path, as CloudStack's SnapshotSchedulerImpl.deleteExpiredVMSnapshots does.
 */
import { logFailure } from '../core/errors.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';
import type { VmSnapshotManager } from './vm-snapshot-manager.ts';

export async function deleteExpiredSnapshots(
  deps: ManagerDeps,
  manager: VmSnapshotManager,
  system: Caller,
  now = Date.now(),
): Promise<string[]> {
  const hours = deps.settings.getNumber('vmsnapshot.expire.interval');
  if (!(hours > 0)) return [];
  const cutoff = now - hours * 3600_000;
  const expired = (await deps.snapshots.listInStates(['Ready', 'Error'])).filter((s) => s.createdAt < cutoff);
  const jobs: string[] = [];
  for (const snap of expired) {
    try {
      jobs.push((await manager.delete(system, snap.id)).jobId);
    } catch (err) {
      // Usually a check (another task on the VM): info; the next round tries again.
      logFailure(
        deps.log,
        err,
        { snapshot: snap.id },
        'could not schedule the delete of an expired snapshot',
      );
    }
  }
  return jobs;
}
