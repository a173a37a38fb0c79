import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

describe('VM snapshot lifecycle through the manager (simulator, SQLite, jobs)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await openTestApp();
  });
  afterEach(async () => {
    await t.close();
  });

  it('creates a memory snapshot, reverts to it and deletes it', async () => {
    const vm = await t.vm('web-1');
    const { snapshot, jobId } = await t.app.snapshotManager.create(t.demo, {
      vmId: vm.id,
      snapshotMemory: true,
    });
    expect(snapshot.state).toBe('Allocated');
    expect(snapshot.name).toMatch(/^i-2-\d+-VM_VS_\d{14}$/);
    const job = await t.app.deps.jobs.waitFor(jobId);
    expect(job.status).toBe('succeeded');
    const ready = await t.app.deps.snapshots.get(snapshot.id);
    expect(ready?.state).toBe('Ready');
    expect(ready?.current).toBe(true);
    expect(ready?.type).toBe('DiskAndMemory');
    expect(ready?.strategy).toBe('hypervisor');
    expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).toContain(snapshot.name);

    const revert = await t.app.snapshotManager.revert(t.demo, snapshot.id);
    expect((await t.app.deps.jobs.waitFor(revert.jobId)).status).toBe('succeeded');
    expect((await t.vm('web-1')).state).toBe('Running');

    const del = await t.app.snapshotManager.delete(t.demo, snapshot.id);
    expect((await t.app.deps.jobs.waitFor(del.jobId)).status).toBe('succeeded');
    expect(await t.app.deps.snapshots.get(snapshot.id)).toBeUndefined();
    expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).not.toContain(
      snapshot.name,
    );
  });
});
