/**
 * Strategy choice through the real stack (manager -> registry -> strategies, plugin loaded by the
 * loader): the storage strategy takes a snapshot only when every volume's driver can snapshot and no
 * memory is asked for; everything else stays with the hypervisor default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/test-app.ts';
import {
  FIRST_DRIVER,
  SECOND_DRIVER,
  addVm,
  addVmOnDrivers,
  arrayOf,
  ensurePool,
  openTwoArrayApp,
  snapshotsOnArray,
  takeSnapshot,
} from './array-fixtures.ts';

let t: TestApp;
beforeAll(async () => {
  t = await openTwoArrayApp();
});
afterAll(async () => {
  await t.close();
});

function takes(): number {
  return arrayOf(t.app, FIRST_DRIVER).callCount('take') + arrayOf(t.app, SECOND_DRIVER).callCount('take');
}

describe('strategy choice with the vendor array plugin loaded', () => {
  it('registers both array drivers and seeds array-1 on the array pool', async () => {
    // Built-in drivers come first; the plugin's follow in registration order.
    expect([...t.app.deps.registry.storageDrivers.keys()].slice(-2)).toEqual([FIRST_DRIVER, SECOND_DRIVER]);
    const vm = await t.vm('array-1');
    const volumes = await t.app.deps.inventory.volumesOf(vm.id);
    expect(volumes.map((v) => [v.type, v.driver])).toEqual([
      ['ROOT', FIRST_DRIVER],
      ['DATADISK', FIRST_DRIVER],
    ]);
  });

  it('a disk snapshot of array-1 is taken by the storage strategy, on the array', async () => {
    const vm = await t.vm('array-1');
    const before = takes();
    const { snap, error } = await takeSnapshot(t, vm.id, { name: 'disk-only', quiesce: true });

    expect(error).toBe('');
    expect(snap.strategy).toBe('storage');
    expect(snap.state).toBe('Ready');
    expect(takes() - before).toBe(1);
    const volumeIds = snap.volumes.map((r) => r.volumeId);
    const onArray = snapshotsOnArray(t.app, FIRST_DRIVER, volumeIds);
    expect(snap.volumes.map((r) => r.ref)).toEqual(onArray.map((refs) => refs.at(-1)));
    expect(snap.details['drivers']).toBe(FIRST_DRIVER);
  });

  it('a memory snapshot of array-1 goes to the hypervisor strategy, never to the array', async () => {
    const vm = await t.vm('array-1');
    const before = takes();
    const { snap, error } = await takeSnapshot(t, vm.id, { name: 'with-memory', snapshotMemory: true });

    expect(error).toBe('');
    expect(snap.strategy).toBe('hypervisor');
    expect(snap.type).toBe('DiskAndMemory');
    expect(snap.state).toBe('Ready');
    expect(takes()).toBe(before);
    expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).toContain(snap.name);
  });

  it('a VM with volumes on two array drivers goes to the storage strategy', async () => {
    const vm = await addVmOnDrivers(t, 'two-arrays', [FIRST_DRIVER, SECOND_DRIVER]);
    const { snap, error } = await takeSnapshot(t, vm.id);

    expect(error).toBe('');
    expect(snap.strategy).toBe('storage');
    const record = (volumeId: string) => snap.volumes.find((r) => r.volumeId === volumeId);
    const [onFirst, onSecond] = vm.volumeIds;
    expect(record(onFirst!)?.driver).toBe(FIRST_DRIVER);
    expect(record(onSecond!)?.driver).toBe(SECOND_DRIVER);
    expect(snapshotsOnArray(t.app, FIRST_DRIVER, [onFirst!])).toEqual([[record(onFirst!)?.ref]]);
    expect(snapshotsOnArray(t.app, SECOND_DRIVER, [onSecond!])).toEqual([[record(onSecond!)?.ref]]);
  });

  it('a VM mixing an array volume and a hypervisor-pool volume goes to the hypervisor strategy', async () => {
    const arrayPool = await ensurePool(t.app, `${FIRST_DRIVER}-pool`, FIRST_DRIVER);
    const hypervisorPool = await ensurePool(t.app, 'sim-primary-1', 'file');
    const vm = await addVm(t.app, t.demo.accountId, {
      name: 'mixed',
      running: true,
      pools: [arrayPool, hypervisorPool],
    });
    const before = takes();
    const { snap, error } = await takeSnapshot(t, vm.id);

    expect(error).toBe('');
    expect(snap.strategy).toBe('hypervisor');
    expect(snap.state).toBe('Ready');
    expect(takes()).toBe(before);
    expect(snapshotsOnArray(t.app, FIRST_DRIVER, vm.volumeIds)).toEqual([[], []]);
  });

  it('a VM only on hypervisor pools keeps the hypervisor strategy', async () => {
    const vm = await t.vm('web-1');
    const { snap, error } = await takeSnapshot(t, vm.id);
    expect(error).toBe('');
    expect(snap.strategy).toBe('hypervisor');
  });
});
