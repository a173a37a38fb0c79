/** vmsnapshot.expire.interval (hours): older snapshots are deleted through the normal delete path. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const HOUR = 3600_000;

describe('snapshot expiry', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await openTestApp();
  });
  afterEach(async () => {
    await t.close();
  });

  async function take(vmName: string, name: string, fail = false): Promise<StoredVmSnapshot> {
    const vm = await t.vm(vmName);
    if (fail)
      t.app.simulator.configure({
        name: 'CreateVMSnapshot',
        value: 'result:fail',
        vmName: vm.instanceName,
        count: 1,
      });
    const { snapshot, jobId } = await t.app.snapshotManager.create(t.demo, { vmId: vm.id, name });
    await waitJob(t.app, jobId);
    const s = await t.app.deps.snapshots.get(snapshot.id);
    if (s === undefined) throw new Error('snapshot missing');
    expect(s.state).toBe(fail ? 'Error' : 'Ready');
    return s;
  }

  /** Makes a snapshot look older than it is. */
  async function age(s: StoredVmSnapshot, ms: number): Promise<void> {
    await t.app.deps.db
      .updateTable('vm_snapshots')
      .set({ created: s.createdAt - ms })
      .where('id', '=', s.id)
      .execute();
  }

  it('deletes Ready and Error snapshots older than the interval, on the host too, and keeps younger ones', async () => {
    await t.app.deps.settings.set('vmsnapshot.expire.interval', '2');
    const old = await take('app-1', 'old');
    const broken = await take('batch-1', 'broken', true);
    const young = await take('app-1', 'young');
    await age(old, 3 * HOUR);
    await age(broken, 3 * HOUR);
    await age(young, 1 * HOUR);

    const jobs = await t.app.expireNow();
    expect(jobs).toHaveLength(2);
    for (const id of jobs) expect((await waitJob(t.app, id)).status).toBe('succeeded');
    expect(await t.app.deps.snapshots.get(old.id)).toBeUndefined();
    expect(await t.app.deps.snapshots.get(broken.id)).toBeUndefined();
    expect((await t.app.deps.snapshots.get(young.id))?.state).toBe('Ready');
    const vm = await t.vm('app-1');
    expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).toEqual([young.name]);
    // Its parent was deleted under it: it is re-parented to the root.
    expect((await t.app.deps.snapshots.get(young.id))?.parentId).toBeNull();

    // Later, `now` moves on: the young one expires too.
    const later = await t.app.expireNow(Date.now() + 2 * HOUR);
    expect(later).toHaveLength(1);
    expect((await waitJob(t.app, later[0]!)).status).toBe('succeeded');
    expect(await t.app.deps.snapshots.get(young.id)).toBeUndefined();
  });

  it('-1 (the default) deletes nothing, however old', async () => {
    expect(t.app.deps.settings.get('vmsnapshot.expire.interval')).toBe('-1');
    const s = await take('app-1', 'ancient');
    await age(s, 10_000 * HOUR);
    expect(await t.app.expireNow()).toEqual([]);
    await t.app.deps.settings.set('vmsnapshot.expire.interval', '-1');
    expect(await t.app.expireNow(Date.now() + 100_000 * HOUR)).toEqual([]);
    expect((await t.app.deps.snapshots.get(s.id))?.state).toBe('Ready');
  });

  it('a snapshot busy in another task is skipped, not broken, and expires on a later sweep', async () => {
    await t.app.deps.settings.set('vmsnapshot.expire.interval', '1');
    const a = await take('app-1', 'a');
    const b = await take('app-1', 'b');
    await age(a, 2 * HOUR);
    await age(b, 2 * HOUR);
    // b is being reverted to (stuck): the VM has an active task, so a's delete is refused for now.
    const reverting = await t.app.deps.snapshots.fire(b, 'RevertRequested');
    expect(await t.app.expireNow()).toEqual([]);
    expect((await t.app.deps.snapshots.get(a.id))?.state).toBe('Ready');
    await t.app.deps.snapshots.fire(reverting, 'OperationFailed');
    const jobs = await t.app.expireNow();
    expect(jobs).toHaveLength(2);
    for (const id of jobs) expect((await waitJob(t.app, id)).status).toBe('succeeded');
    expect(await t.app.deps.snapshots.listByVm((await t.vm('app-1')).id)).toEqual([]);
  });
});
