/**
 * The manager's synchronous checks (reference §2 A, C, D): each one with CloudStack's exact message,
 * exception class and API error code, in the order CloudStack runs them.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudRuntimeError, InvalidParameterError, type CloudError } from '../../src/core/errors.ts';
import type { Caller } from '../../src/manager/caller.ts';
import { StrategyRegistry } from '../../src/manager/strategy-registry.ts';
import { VmSnapshotManager } from '../../src/manager/vm-snapshot-manager.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import type { StoredVm } from '../../src/store/inventory-store.ts';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

type ErrorClass = typeof InvalidParameterError | typeof CloudRuntimeError;

/** Awaits a rejection and checks class, code and exact message. */
async function refused(
  p: Promise<unknown>,
  cls: ErrorClass,
  code: number,
  message: string | RegExp,
): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a refusal').toBeInstanceOf(cls);
  const err = thrown as CloudError;
  expect(err.errorCode).toBe(code);
  if (typeof message === 'string') expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
}

const ACTIVE_TASKS = 'There are other active Instance Snapshot tasks on the Instance, please try again later';

describe('manager checks', () => {
  let t: TestApp;
  let other: Caller;
  beforeEach(async () => {
    t = await openTestApp();
    const acct = await new AccountStore(t.app.deps.db).createAccount('other', 'user');
    other = { accountId: acct.account.id, accountName: 'other', userId: acct.user.id, isAdmin: false };
  });
  afterEach(async () => {
    await t.close();
  });

  const mgr = (): VmSnapshotManager => t.app.snapshotManager;

  /** A snapshot taken through the manager and waited for. */
  async function snapshot(vm: StoredVm, name: string, memory = false): Promise<StoredVmSnapshot> {
    const { snapshot: s, jobId } = await mgr().create(t.demo, { vmId: vm.id, name, snapshotMemory: memory });
    const job = await waitJob(t.app, jobId);
    const stored = await t.app.deps.snapshots.get(s.id);
    if (stored === undefined) throw new Error('snapshot vanished');
    expect(job.status, `create ${name}`).toBe(stored.state === 'Ready' ? 'succeeded' : 'failed');
    return stored;
  }

  /** Moves a Ready snapshot into a transitional state directly in the store (as a stuck job would). */
  async function stuckIn(
    s: StoredVmSnapshot,
    state: 'Creating' | 'Reverting' | 'Expunging',
  ): Promise<StoredVmSnapshot> {
    if (state === 'Creating') {
      const vm = await t.app.deps.inventory.getVm(s.vmId);
      if (vm === undefined) throw new Error('vm missing');
      const fresh = await t.app.deps.snapshots.insert({
        id: randomUUID(),
        vmId: vm.id,
        accountId: vm.accountId,
        name: `${vm.instanceName}_VS_stuck`,
        displayName: `stuck-${randomUUID()}`,
        description: '',
        type: 'Disk',
        strategy: 'hypervisor',
        quiesce: false,
        options: {},
        created: Date.now(),
      });
      return t.app.deps.snapshots.fire(fresh, 'CreateRequested');
    }
    return t.app.deps.snapshots.fire(s, state === 'Reverting' ? 'RevertRequested' : 'ExpungeRequested');
  }

  describe('create (allocVMSnapshot A1–A13)', () => {
    it('A1: unknown VM -> 431', async () => {
      await refused(
        mgr().create(t.demo, { vmId: 'no-such-vm' }),
        InvalidParameterError,
        431,
        'Creating Instance Snapshot failed because Instance:no-such-vm is a System VM or does not exist',
      );
    });

    it('A4: display name longer than 255 -> 431; 255 is accepted', async () => {
      const vm = await t.vm('app-1');
      await refused(
        mgr().create(t.demo, { vmId: vm.id, name: 'n'.repeat(256) }),
        InvalidParameterError,
        431,
        'Creating Instance Snapshot failed due to length of Instance Snapshot vsDisplayName should not exceed 255',
      );
      const ok = await mgr().allocate(t.demo, { vmId: vm.id, name: 'n'.repeat(255) });
      expect(ok.displayName).toHaveLength(255);
    });

    it('A5: description longer than 255 -> 431', async () => {
      const vm = await t.vm('app-1');
      await refused(
        mgr().create(t.demo, { vmId: vm.id, description: 'd'.repeat(256) }),
        InvalidParameterError,
        431,
        'Creating Instance Snapshot failed due to length of Instance Snapshot vsDescription should not exceed 255',
      );
    });

    it('A6: duplicate display name -> 431 (no space after "name", two before "already"); free again after delete', async () => {
      const vm = await t.vm('app-1');
      const first = await snapshot(vm, 'nightly');
      await refused(
        mgr().create(t.demo, { vmId: vm.id, name: 'nightly' }),
        InvalidParameterError,
        431,
        'Creating Instance Snapshot failed because Instance Snapshot with namenightly  already exists',
      );
      // The same display name on another VM is fine: uniqueness is per VM.
      await expect(
        mgr().allocate(t.demo, { vmId: (await t.vm('batch-1')).id, name: 'nightly' }),
      ).resolves.toBeDefined();
      const del = await mgr().delete(t.demo, first.id);
      expect((await waitJob(t.app, del.jobId)).status).toBe('succeeded');
      await expect(mgr().allocate(t.demo, { vmId: vm.id, name: 'nightly' })).resolves.toBeDefined();
    });

    it('A6: the default display name is the generated name, so it collides too', async () => {
      const vm = await t.vm('app-1');
      const a = await mgr().allocate(t.demo, { vmId: vm.id });
      expect(a.displayName).toBe(a.name);
      await refused(
        mgr().allocate(t.demo, { vmId: vm.id, name: a.name }),
        InvalidParameterError,
        431,
        `Creating Instance Snapshot failed because Instance Snapshot with name${a.name}  already exists`,
      );
    });

    it('generated names (the host tag) are unique per VM even within one second', async () => {
      const vm = await t.vm('app-1');
      const a = await snapshot(vm, 'a');
      const b = await snapshot(vm, 'b');
      for (const s of [a, b]) expect(s.name).toMatch(/^i-2-\d+-VM_VS_\d{14}$/);
      expect(a.name).not.toBe(b.name);
      expect(b.state).toBe('Ready');
      const del = await mgr().delete(t.demo, a.id);
      expect((await waitJob(t.app, del.jobId)).status).toBe('succeeded');
      // Deleting one must not delete the other's data on the host.
      expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).toEqual([b.name]);
    });

    it('concurrent creates of one VM get distinct generated names, and all complete', async () => {
      const vm = await t.vm('app-1');
      // Issued together: every call reads the VM's snapshots before any of them has inserted.
      const created = await Promise.all(
        Array.from({ length: 8 }, () => mgr().create(t.demo, { vmId: vm.id })),
      );
      const names = created.map((c) => c.snapshot.name);
      expect(new Set(names).size, names.join(' ')).toBe(8);
      for (const c of created) expect((await waitJob(t.app, c.jobId)).status).toBe('succeeded');
      const onHost = t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name) ?? [];
      expect([...onHost].sort()).toEqual([...names].sort());
    });

    it('concurrent creates with one display name: one wins, the others get A6 (431)', async () => {
      const vm = await t.vm('app-1');
      const outcomes = await Promise.allSettled(
        Array.from({ length: 4 }, () => mgr().create(t.demo, { vmId: vm.id, name: 'nightly' })),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const l of lost) {
        expect(l.reason).toBeInstanceOf(InvalidParameterError);
        expect((l.reason as CloudError).message).toBe(
          'Creating Instance Snapshot failed because Instance Snapshot with namenightly  already exists',
        );
      }
      const live = await t.app.deps.snapshots.listByVm(vm.id);
      expect(live.filter((x) => x.displayName === 'nightly')).toHaveLength(1);
    });

    it.each(['Starting', 'Stopping', 'Error', 'Destroyed'] as const)('A7: VM in %s -> 431', async (state) => {
      const vm = await t.vm('web-1');
      expect(await t.app.deps.inventory.setVmState(vm, state, vm.hostId)).toBe(true);
      await refused(
        mgr().create(t.demo, { vmId: vm.id, name: 'x' }),
        InvalidParameterError,
        431,
        `Creating Instance Snapshot failed because Instance:${vm.id} is not in Running or Stopped state`,
      );
    });

    it('A8: memory snapshot of a stopped VM -> 431; disk-only of the same VM is fine', async () => {
      const vm = await t.vm('app-1');
      await refused(
        mgr().create(t.demo, { vmId: vm.id, snapshotMemory: true }),
        InvalidParameterError,
        431,
        'Can not Snapshot memory when the Instance is not in Running state',
      );
      const disk = await mgr().allocate(t.demo, { vmId: vm.id });
      expect(disk.type).toBe('Disk');
    });

    it('A14: type is DiskAndMemory only for memory on a running VM', async () => {
      const web = await t.vm('web-1');
      expect((await mgr().allocate(t.demo, { vmId: web.id, name: 'm', snapshotMemory: true })).type).toBe(
        'DiskAndMemory',
      );
      expect((await mgr().allocate(t.demo, { vmId: web.id, name: 'd' })).type).toBe('Disk');
    });

    it('A8b: no ROOT volume -> 530 CloudRuntimeError', async () => {
      const vm = await t.vm('db-1');
      await t.app.deps.db
        .updateTable('volumes')
        .set({ removed: Date.now() })
        .where('vm_id', '=', vm.id)
        .where('type', '=', 'ROOT')
        .execute();
      await refused(
        mgr().create(t.demo, { vmId: vm.id }),
        CloudRuntimeError,
        530,
        `Unable to find root volume for the user Instance:${vm.id}`,
      );
    });

    it('no strategy can handle the snapshot -> 530 naming the snapshot', async () => {
      const vm = await t.vm('web-1');
      const bare = new VmSnapshotManager({ ...t.app.deps, registry: new StrategyRegistry() });
      await refused(
        bare.create(t.demo, { vmId: vm.id }),
        CloudRuntimeError,
        530,
        /^Can't find Instance Snapshot strategy for vmsnapshot: i-2-\d+-VM_VS_\d{14}: no installed strategy handles a Disk snapshot/,
      );
      expect(await t.app.deps.snapshots.listByVm(vm.id)).toHaveLength(0);
    });

    it("A10: another account's VM fails A1 like a missing one (not 531); admins may", async () => {
      const vm = await t.vm('web-1');
      await refused(
        mgr().create(other, { vmId: vm.id }),
        InvalidParameterError,
        431,
        `Creating Instance Snapshot failed because Instance:${vm.id} is a System VM or does not exist`,
      );
      const byAdmin = await mgr().allocate(t.admin, { vmId: vm.id });
      expect(byAdmin.accountId).toBe(vm.accountId);
    });

    it('A10 runs with A1, before A6-A8 and A11 (unlike CloudStack, no oracle for names or state)', async () => {
      const vm = await t.vm('app-1');
      await snapshot(vm, 'taken');
      const notFound = `Creating Instance Snapshot failed because Instance:${vm.id} is a System VM or does not exist`;
      // A stopped VM with memory (A8), a taken name (A6), or no room left (A11): all hidden.
      await refused(
        mgr().create(other, { vmId: vm.id, snapshotMemory: true }),
        InvalidParameterError,
        431,
        notFound,
      );
      await refused(
        mgr().create(other, { vmId: vm.id, name: 'taken' }),
        InvalidParameterError,
        431,
        notFound,
      );
      await t.app.deps.settings.set('vmsnapshot.max', '0');
      await refused(mgr().create(other, { vmId: vm.id }), InvalidParameterError, 431, notFound);
      expect(await t.app.deps.snapshots.listByVm(vm.id)).toHaveLength(1);
    });

    it('A11: vmsnapshot.max counts Ready, Error and Allocated rows; removed rows do not count', async () => {
      await t.app.deps.settings.set('vmsnapshot.max', '3');
      const vm = await t.vm('app-1');
      const ready = await snapshot(vm, 'ready');
      t.app.simulator.configure({
        name: 'CreateVMSnapshot',
        value: 'result:fail',
        vmName: vm.instanceName,
        count: 1,
      });
      const failed = await snapshot(vm, 'failed');
      expect(failed.state).toBe('Error');
      const alloc = await mgr().allocate(t.demo, { vmId: vm.id, name: 'allocated' });
      expect(alloc.state).toBe('Allocated');
      const tooMany =
        'Creating Instance Snapshot failed due to a Instance can just have : 3 Instance Snapshots. Please delete old ones';
      await refused(mgr().create(t.demo, { vmId: vm.id, name: 'fourth' }), CloudRuntimeError, 530, tooMany);
      const del = await mgr().delete(t.demo, ready.id);
      expect((await waitJob(t.app, del.jobId)).status).toBe('succeeded');
      await expect(mgr().allocate(t.demo, { vmId: vm.id, name: 'fourth' })).resolves.toBeDefined();
      await refused(mgr().create(t.demo, { vmId: vm.id, name: 'fifth' }), CloudRuntimeError, 530, tooMany);
    });

    it.each(['Creating', 'Reverting', 'Expunging'] as const)(
      'A13: a snapshot in %s blocks create, revert and delete of other snapshots',
      async (state) => {
        const vm = await t.vm('web-1');
        const a = await snapshot(vm, 'a', true);
        const b = await snapshot(vm, 'b', true);
        await stuckIn(a, state);
        await refused(
          mgr().create(t.demo, { vmId: vm.id, name: 'c' }),
          InvalidParameterError,
          431,
          ACTIVE_TASKS,
        );
        await refused(mgr().revert(t.demo, b.id), InvalidParameterError, 431, ACTIVE_TASKS);
        await refused(mgr().delete(t.demo, b.id), InvalidParameterError, 431, ACTIVE_TASKS);
      },
    );

    it('A13 deviation (CloudStack issue 8424): an Allocated snapshot blocks nothing and can be deleted', async () => {
      const vm = await t.vm('web-1');
      const base = await snapshot(vm, 'base', true);
      const stuck = await mgr().allocate(t.demo, { vmId: vm.id, name: 'never-taken' });
      expect(stuck.state).toBe('Allocated');
      const next = await snapshot(vm, 'next', true);
      expect(next.state).toBe('Ready');
      const rev = await mgr().revert(t.demo, base.id);
      expect((await waitJob(t.app, rev.jobId)).status).toBe('succeeded');
      const delNext = await mgr().delete(t.demo, next.id);
      expect((await waitJob(t.app, delNext.jobId)).status).toBe('succeeded');
      const delStuck = await mgr().delete(t.demo, stuck.id);
      expect((await waitJob(t.app, delStuck.jobId)).status).toBe('succeeded');
      expect(await t.app.deps.snapshots.get(stuck.id)).toBeUndefined();
      expect((await t.app.deps.snapshots.get(stuck.id, true))?.removed).not.toBeNull();
      expect((await t.app.deps.snapshots.get(base.id))?.current).toBe(true);
    });
  });

  describe('revert (revertToSnapshot C1–C8)', () => {
    it('C1: unknown snapshot -> 431', async () => {
      await refused(
        mgr().revert(t.demo, 'nope'),
        InvalidParameterError,
        431,
        'Unable to find the Instance Snapshot with id nope',
      );
    });

    it('C2: VM gone -> 431', async () => {
      const vm = await t.vm('app-1');
      const s = await snapshot(vm, 's');
      await t.app.deps.db.updateTable('vms').set({ removed: Date.now() }).where('id', '=', vm.id).execute();
      await refused(
        mgr().revert(t.demo, s.id),
        InvalidParameterError,
        431,
        `Revert Instance to Snapshot: ${s.id} failed due to Instance: ${vm.id} is not found`,
      );
    });

    it('C3: active tasks -> 431, for the owner only: access (C4) is checked with C1', async () => {
      const vm = await t.vm('app-1');
      const s = await snapshot(vm, 's');
      const s2 = await snapshot(vm, 's2');
      await stuckIn(s2, 'Expunging');
      await refused(mgr().revert(t.demo, s.id), InvalidParameterError, 431, ACTIVE_TASKS);
      await refused(
        mgr().revert(other, s.id),
        InvalidParameterError,
        431,
        `Unable to find the Instance Snapshot with id ${s.id}`,
      );
    });

    it("C4: another account's snapshot fails C1 like a missing one (not 531)", async () => {
      const vm = await t.vm('app-1');
      const s = await snapshot(vm, 's');
      await refused(
        mgr().revert(other, s.id),
        InvalidParameterError,
        431,
        `Unable to find the Instance Snapshot with id ${s.id}`,
      );
    });

    it('C5: VM not Running or Stopped -> 431', async () => {
      const vm = await t.vm('app-1');
      const s = await snapshot(vm, 's');
      await t.app.deps.inventory.setVmState(vm, 'Starting', vm.lastHostId);
      await refused(
        mgr().revert(t.demo, s.id),
        InvalidParameterError,
        431,
        'Instance Snapshot reverting failed because the Instance is not in Running or Stopped state.',
      );
    });

    it('C6: running VM and a disk-only snapshot -> 431', async () => {
      const vm = await t.vm('web-1');
      const s = await snapshot(vm, 'disk-only');
      expect(s.type).toBe('Disk');
      await refused(
        mgr().revert(t.demo, s.id),
        InvalidParameterError,
        431,
        'Reverting to the Instance Snapshot is not allowed for running Instances as this would result in an ' +
          'Instance state change. For running Instances only Snapshots with memory can be reverted. In order to ' +
          'revert to a Snapshot without memory you need to first stop the Instance.',
      );
    });

    it('C7: stopped VM and a memory snapshot -> 431', async () => {
      const vm = await t.vm('web-1');
      const s = await snapshot(vm, 'with-memory', true);
      const stop = await t.app.vmManager.stop(t.demo, vm.id);
      expect((await waitJob(t.app, stop.jobId)).status).toBe('succeeded');
      await refused(
        mgr().revert(t.demo, s.id),
        InvalidParameterError,
        431,
        'Reverting to the Instance Snapshot is not allowed for stopped Instances when the Snapshot contains memory ' +
          'as this would result in an Instance state change. In order to revert to a Snapshot with memory you need ' +
          'to first start the Instance.',
      );
    });

    it('C8: snapshot not Ready (Error) -> 431', async () => {
      const vm = await t.vm('app-1');
      t.app.simulator.configure({
        name: 'CreateVMSnapshot',
        value: 'result:fail',
        vmName: vm.instanceName,
        count: 1,
      });
      const s = await snapshot(vm, 'broken');
      expect(s.state).toBe('Error');
      await refused(
        mgr().revert(t.demo, s.id),
        InvalidParameterError,
        431,
        'Instance Snapshot reverting failed because the Instance Snapshot is not in Created state.',
      );
    });
  });

  describe('delete (deleteVMSnapshot D1–D4)', () => {
    it('D1: unknown snapshot -> 431', async () => {
      await refused(
        mgr().delete(t.demo, 'nope'),
        InvalidParameterError,
        431,
        'Unable to find the Instance Snapshot with id nope',
      );
    });

    it("D2: another account's snapshot fails D1 like a missing one (not 531)", async () => {
      const vm = await t.vm('app-1');
      const s = await snapshot(vm, 's');
      await refused(
        mgr().delete(other, s.id),
        InvalidParameterError,
        431,
        `Unable to find the Instance Snapshot with id ${s.id}`,
      );
      expect((await t.app.deps.snapshots.get(s.id))?.state).toBe('Ready');
    });

    it.each(['Creating', 'Reverting'] as const)(
      'D3: a snapshot in %s cannot be deleted (one message, naming the deletable states)',
      async (state) => {
        const vm = await t.vm('web-1');
        const s = await stuckIn(await snapshot(vm, 's', true), state);
        await refused(
          mgr().delete(t.demo, s.id),
          InvalidParameterError,
          431,
          `Can't delete the Instance Snapshot ${s.id} due to it is not in [Ready, Expunging, Error, Allocated, Hidden]States`,
        );
      },
    );

    it('D3: an Error snapshot can be deleted', async () => {
      const vm = await t.vm('app-1');
      t.app.simulator.configure({
        name: 'CreateVMSnapshot',
        value: 'result:fail',
        vmName: vm.instanceName,
        count: 1,
      });
      const s = await snapshot(vm, 'broken');
      const del = await mgr().delete(t.demo, s.id);
      expect((await waitJob(t.app, del.jobId)).status).toBe('succeeded');
      expect(await t.app.deps.snapshots.get(s.id)).toBeUndefined();
    });

    it('D4: retrying a stuck Expunging delete is allowed; deleting another snapshot meanwhile is not', async () => {
      const vm = await t.vm('app-1');
      const keep = await snapshot(vm, 'keep');
      const stuck = await stuckIn(await snapshot(vm, 'stuck'), 'Expunging');
      await refused(mgr().delete(t.demo, keep.id), InvalidParameterError, 431, ACTIVE_TASKS);
      const retry = await mgr().delete(t.demo, stuck.id);
      expect((await waitJob(t.app, retry.jobId)).status).toBe('succeeded');
      expect(await t.app.deps.snapshots.get(stuck.id)).toBeUndefined();
      const names = t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name) ?? [];
      expect(names).not.toContain(stuck.name);
      expect(names).toContain(keep.name);
    });
  });
});
