/**
 * Issue 10, item 13: requests known to fail on the host are refused by the manager's checks, before
 * a snapshot row or a job exists, instead of ending as an Error snapshot to delete by hand:
 *  - any snapshot of a running VM whose host is Down (530);
 *  - an internal memory snapshot on top of external snapshots on a QEMU (KVM) host (431).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudError, CloudRuntimeError, InvalidParameterError } from '../../src/core/errors.ts';
import type { CreateSnapshotRequest } from '../../src/manager/vm-snapshot-manager.ts';
import type { StoredVm } from '../../src/store/inventory-store.ts';
import { waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

let t: TestApp;
beforeEach(async () => {
  t = await openTestApp();
});
afterEach(async () => {
  await t.close();
});

async function counts(): Promise<{ snapshots: number; jobs: number }> {
  const { db } = t.app.deps;
  const snaps = await db
    .selectFrom('vm_snapshots')
    .select(db.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  const jobs = await db.selectFrom('async_jobs').select(db.fn.countAll<number>().as('n')).executeTakeFirst();
  return { snapshots: Number(snaps?.n ?? 0), jobs: Number(jobs?.n ?? 0) };
}

/** The create's refusal, checking that it left no row and no job behind. */
async function refusal(req: CreateSnapshotRequest): Promise<CloudError> {
  const before = await counts();
  const err = await t.app.snapshotManager.create(t.demo, req).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(CloudError);
  expect(await counts()).toEqual(before);
  return err as CloudError;
}

async function diskSnapshot(vm: StoredVm, name: string): Promise<void> {
  const { jobId } = await t.app.snapshotManager.create(t.demo, { vmId: vm.id, name });
  expect((await waitJob(t.app, jobId)).status).toBe('succeeded');
}

/** The VM as a QEMU host's VM: what the check looks at (nothing here reaches a host). */
async function asKvm(vm: StoredVm): Promise<StoredVm> {
  await t.app.deps.db.updateTable('vms').set({ hypervisor: 'KVM' }).where('id', '=', vm.id).execute();
  return { ...vm, hypervisor: 'KVM' };
}

describe('a running VM whose host is Down', () => {
  it('is refused with 530 before a row or a job exists, for disk and memory snapshots', async () => {
    const vm = await t.vm('web-1');
    expect(vm.state).toBe('Running');
    if (vm.hostId === null) throw new Error('running VM without a host');
    await t.app.deps.inventory.setHostStatus(vm.hostId, 'Down');
    for (const snapshotMemory of [false, true]) {
      const err = await refusal({ vmId: vm.id, name: `s-${String(snapshotMemory)}`, snapshotMemory });
      expect(err).toBeInstanceOf(CloudRuntimeError);
      expect(err.errorCode).toBe(530);
      expect(err.message).toBe(
        `Creating Instance Snapshot failed because the host of Instance:${vm.id} is Down, please try again when it is Up`,
      );
    }
    // Up again: the same request is accepted and succeeds.
    await t.app.deps.inventory.setHostStatus(vm.hostId, 'Up');
    await diskSnapshot(vm, 'after');
  });
});

describe('an internal memory snapshot over external ones (QEMU hosts)', () => {
  const INTERNAL_OVER_EXTERNAL =
    /has external snapshots; an internal memory snapshot \(memorymode=internal\)/;

  it('is refused with 431 when the request asks for memorymode=internal', async () => {
    const vm = await t.vm('web-1');
    await diskSnapshot(vm, 'disk');
    const kvm = await asKvm(vm);
    const err = await refusal({
      vmId: kvm.id,
      name: 'mem',
      snapshotMemory: true,
      options: { memoryMode: 'internal' },
    });
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect(err.errorCode).toBe(431);
    expect(err.message).toMatch(INTERNAL_OVER_EXTERNAL);
    expect(err.message).toContain('use memorymode=live');
  });

  it('is refused when the setting makes internal the mode', async () => {
    const vm = await t.vm('web-1');
    await diskSnapshot(vm, 'disk');
    await t.app.deps.settings.set('vmsnapshot.memory.mode', 'internal');
    const err = await refusal({ vmId: (await asKvm(vm)).id, name: 'mem', snapshotMemory: true });
    expect(err.errorCode).toBe(431);
    expect(err.message).toMatch(INTERNAL_OVER_EXTERNAL);
  });

  it('is accepted with memorymode=live, with no external snapshot, and on the simulator', async () => {
    const vm = await t.vm('web-1');
    // The simulator keeps every snapshot inside its images: no mix to refuse.
    await diskSnapshot(vm, 'disk');
    const onSimulator = await t.app.snapshotManager.create(t.demo, {
      vmId: vm.id,
      name: 'sim-mem',
      snapshotMemory: true,
      options: { memoryMode: 'internal' },
    });
    expect((await waitJob(t.app, onSimulator.jobId)).status).toBe('succeeded');
    const kvm = await asKvm(vm);
    const live = await t.app.snapshotManager.create(t.demo, {
      vmId: kvm.id,
      name: 'live-mem',
      snapshotMemory: true,
      options: { memoryMode: 'live' },
    });
    expect(live.snapshot.state).toBe('Allocated');

    const other = await asKvm(await t.vm('db-1'));
    const first = await t.app.snapshotManager.create(t.demo, {
      vmId: other.id,
      name: 'first-mem',
      snapshotMemory: true,
      options: { memoryMode: 'internal' },
    });
    expect(first.snapshot.state).toBe('Allocated');
  });
});
