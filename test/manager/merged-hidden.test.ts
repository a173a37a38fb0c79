/**
 * Hidden snapshots leave once their host has merged them (issue 10, item 17), on the simulator: a
 * row kept Hidden is removed by the next delete of the VM once its strategy says the host no longer
 * has it, and no sooner; until then it counts against `vmsnapshot.max`, after that it does not.
 * (The simulator never hides a snapshot itself: the test hides one as a strategy would, and merges
 * it on the "host" by dropping it from the simulator.)
 */
import { describe, expect, it } from 'vitest';
import { waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

async function take(t: TestApp, vmId: string): Promise<string> {
  const { snapshot, jobId } = await t.app.snapshotManager.create(t.demo, { vmId });
  expect((await waitJob(t.app, jobId)).status).toBe('succeeded');
  return snapshot.id;
}

async function remove(t: TestApp, id: string): Promise<void> {
  const { jobId } = await t.app.snapshotManager.delete(t.demo, id);
  expect((await waitJob(t.app, jobId)).status).toBe('succeeded');
}

/** What a strategy's `hidden` delete outcome does to the row. */
async function hide(t: TestApp, id: string): Promise<void> {
  const snaps = t.app.deps.snapshots;
  const expunging = await snaps.fire((await snaps.get(id))!, 'ExpungeRequested');
  await snaps.fire(expunging, 'Hide');
}

describe('Hidden snapshots merged on their host are removed (simulator)', () => {
  it('the next delete removes a Hidden row the host has merged, and only then', async () => {
    const t = await openTestApp();
    try {
      await t.app.deps.settings.set('vmsnapshot.max', '2');
      const vm = await t.vm('web-1');
      const s1 = await take(t, vm.id);
      const s2 = await take(t, vm.id);
      await hide(t, s1);
      const s1Name = (await t.app.deps.snapshots.get(s1))!.name;

      // The host still has s1's data: deleting s2 keeps it Hidden.
      await remove(t, s2);
      expect((await t.app.deps.snapshots.get(s1))?.state).toBe('Hidden');
      const s3 = await take(t, vm.id);
      // Hidden counts against the limit, as CloudStack counts it.
      await expect(t.app.snapshotManager.create(t.demo, { vmId: vm.id })).rejects.toThrow(
        /can just have : 2 Instance Snapshots/,
      );

      // The host merges s1 (inside some delete); the next delete of the VM removes the row.
      const simVm = t.app.simulator.vmRecord(vm.instanceName)!;
      delete simVm.snapshots[s1Name];
      await remove(t, s3);
      expect(await t.app.deps.snapshots.get(s1)).toBeUndefined();
      const gone = await t.app.deps.snapshots.get(s1, true);
      expect(gone?.state).toBe('Removed');
      expect(await t.app.deps.snapshots.listByVm(vm.id)).toEqual([]);
      // Both slots are free again.
      await take(t, vm.id);
      await take(t, vm.id);
    } finally {
      await t.close();
    }
  });
});
