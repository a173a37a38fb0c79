/**
 * Hidden snapshots leave once their data is merged. A snapshot deleted while others still build on
 * its data is kept Hidden (not listed, still counted against `vmsnapshot.max`); the host merges that
 * data later, inside some later delete. After every delete the VM's Hidden rows are checked with
 * their strategy: the ones the host no longer has are removed, as CloudStack marks them removed
 * once merged. A check that fails leaves the row for the next delete.
 */
import type { SnapshotOperation } from '../core/plugin-api.ts';
import type { StoredVmSnapshot } from '../store/vm-snapshot-store.ts';
import type { ManagerDeps } from './manager-deps.ts';
import { strategyContext } from './strategy-context.ts';

/** Removes the VM's Hidden snapshots the host has merged; returns how many. Never throws. */
export async function removeMergedHidden(
  deps: ManagerDeps,
  vmId: string,
  operationFor: (snap: StoredVmSnapshot) => Promise<SnapshotOperation>,
): Promise<number> {
  let removed = 0;
  const hidden = (await deps.snapshots.listByVm(vmId)).filter((s) => s.state === 'Hidden');
  for (const snap of hidden) {
    try {
      const strategy = deps.registry.boundTo(snap);
      const exists = await strategy.snapshotExists(strategyContext(deps, snap.id), await operationFor(snap));
      if (exists) continue;
      const expunging = await deps.snapshots.fire(snap, 'ExpungeRequested');
      await deps.snapshots.finalizeDelete(expunging, []);
      removed++;
      deps.log.info({ snapshot: snap.id, vm: vmId }, 'hidden snapshot merged on its host: removed');
    } catch (err) {
      deps.log.warn(
        { err, snapshot: snap.id },
        'could not check a hidden snapshot; kept for the next delete',
      );
    }
  }
  return removed;
}
