/**
 * A latest-only array (ZFS / Cinder style) through the real stack: a revert past newer snapshots is
 * refused up front, naming the snapshots in the way, and changes nothing; the latest one reverts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeInfo } from '../../src/core/plugin-api.ts';
import type { StoredVm } from '../../src/store/inventory-store.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { FIRST_DRIVER, arrayOf, finish, takeSnapshot, vendorPlugin } from './array-fixtures.ts';

let t: TestApp;
let vm: StoredVm;
let volumes: VolumeInfo[];
beforeAll(async () => {
  t = await openTestApp({ plugins: [vendorPlugin({ revertMode: 'latest-only' })] });
  vm = await t.vm('array-1');
  volumes = await t.app.deps.inventory.volumesOf(vm.id);
  const { jobId } = await t.app.vmManager.stop(t.admin, vm.id);
  const stopped = await t.app.deps.jobs.waitFor(jobId, 10_000);
  expect(stopped.status).toBe('succeeded');
});
afterAll(async () => {
  await t.close();
});

/** Simulated guest writes: every volume of array-1 now holds `data`. */
function write(data: string): void {
  for (const v of volumes)
    arrayOf(t.app, FIRST_DRIVER).writeVolume({ volumeId: v.id, poolId: v.poolId, size: v.size }, data);
}

function contents(): (string | undefined)[] {
  return volumes.map((v) => arrayOf(t.app, FIRST_DRIVER).getVolume(v.id)?.data);
}

async function revert(snapshotId: string): Promise<Awaited<ReturnType<typeof finish>>> {
  const { jobId } = await t.app.snapshotManager.revert(t.admin, snapshotId);
  return finish(t, snapshotId, jobId);
}

describe('a latest-only array', () => {
  it('refuses a revert past a newer snapshot up front, then reverts to the latest', async () => {
    expect((await t.app.deps.inventory.getVm(vm.id))?.state).toBe('Stopped');
    expect(arrayOf(t.app, FIRST_DRIVER).revertMode).toBe('latest-only');

    write('day-1');
    const older = await takeSnapshot(t, vm.id, { name: 'monday' });
    write('day-2');
    const newer = await takeSnapshot(t, vm.id, { name: 'tuesday' });
    write('day-3');
    expect([older.snap.state, newer.snap.state]).toEqual(['Ready', 'Ready']);
    expect(older.snap.strategy).toBe('storage');
    const array = arrayOf(t.app, FIRST_DRIVER);
    const revertsBefore = array.callCount('revert');

    const refused = await revert(older.snap.id);

    expect(refused.job.status).toBe('failed');
    expect([431, 530]).toContain(refused.job.result_code);
    expect(refused.error).toContain('can only revert to the latest snapshot');
    // What blocks it, per volume, as the VM snapshot that owns each blocking array snapshot.
    expect(refused.error).toMatch(
      /^Cannot revert to monday: volume \S+ on storage driver \S+: .*; blocked by: tuesday \(snap-\d+\)/,
    );
    expect(refused.error).not.toContain('monday (');
    // Nothing changed: the snapshot is still Ready, the array was never asked, the data is untouched.
    expect(refused.snap.state).toBe('Ready');
    expect(array.callCount('revert')).toBe(revertsBefore);
    expect(contents()).toEqual(volumes.map(() => 'day-3'));
    expect((await t.app.deps.inventory.getVm(vm.id))?.state).toBe('Stopped');

    const reverted = await revert(newer.snap.id);

    expect(reverted.error).toBe('');
    expect(reverted.job.status).toBe('succeeded');
    expect(reverted.snap.state).toBe('Ready');
    expect(array.callCount('revert')).toBe(revertsBefore + 1);
    expect(contents()).toEqual(volumes.map(() => 'day-2'));
  });
});
