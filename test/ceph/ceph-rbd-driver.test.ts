/**
 * The ceph-rbd driver on a real Ceph: group snapshots of 2 and 4 images restored bit for bit, revert
 * refused while an image is open (a librbd watcher, as QEMU holds one), pool validation that names
 * the problem (wrong key, no monitor, no pool) and creates nothing, and crash recovery of a take.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StorageSnapshotRef } from '../../src/core/plugin-api.ts';
import { CephRbdDriver } from '../../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { describeCeph, startCeph, type TestCeph } from '../helpers/ceph.ts';
import {
  FakeGuestGateway,
  fakeContext,
  makeOp,
  makeSnapshot,
  makeVm,
} from '../storage/fake-strategy-context.ts';
import { cephVolumes, readByte, writeByte } from './ceph-volumes.ts';

function snapRef(vmId: string): StorageSnapshotRef {
  return { id: randomUUID(), name: `i-2-7-VM_VS_${Date.now()}`, vmId };
}

async function groupSnaps(ceph: TestCeph, vmId: string): Promise<{ snapshot: string; state: string }[]> {
  const out = await ceph.rbd(['group', 'snap', 'ls', `${ceph.pool}/vmsnap-${vmId}`, '--format', 'json']);
  return JSON.parse(out) as { snapshot: string; state: string }[];
}

async function poolNames(ceph: TestCeph): Promise<string> {
  return ceph.rbd(['ls', ceph.pool]);
}

describeCeph('ceph-rbd driver (real Ceph)', () => {
  let ceph: TestCeph;
  const driver = new CephRbdDriver();
  beforeAll(() => {
    ceph = startCeph('driver');
  });
  afterAll(() => ceph?.down());

  for (const count of [2, 4]) {
    it(`one RBD group snapshot covers all ${count} images; revert restores every one`, async () => {
      const vmId = randomUUID();
      const volumes = await cephVolumes(ceph, count);
      for (const v of volumes) await writeByte(ceph, v.path, 0xa1);
      const ref = snapRef(vmId);
      const taken = await driver.takeVmSnapshot(volumes, ref);
      expect(taken.volumes.map((p) => p.volumeId)).toEqual(volumes.map((v) => v.id));
      // One group snapshot, complete, holding one piece per image, in the VM's group.
      expect(await groupSnaps(ceph, vmId)).toEqual([{ snapshot: ref.id, state: 'ok' }]);
      const members = JSON.parse(
        await ceph.rbd(['group', 'image', 'ls', `${ceph.pool}/vmsnap-${vmId}`, '--format', 'json']),
      ) as { image: string }[];
      expect(members.map((m) => m.image).sort()).toEqual(volumes.map((v) => v.path).sort());

      for (const v of volumes) await writeByte(ceph, v.path, 0xb2);
      for (const [i, v] of volumes.entries())
        expect(await driver.canRevert(v, taken.volumes[i]!)).toEqual({ ok: true });
      await driver.revertVmSnapshot(volumes, taken.volumes);
      for (const v of volumes) expect(await readByte(ceph, v.path)).toBe(0xa1);

      await driver.deleteVmSnapshot(volumes, taken.volumes);
      expect(await groupSnaps(ceph, vmId)).toEqual([]);
    });
  }

  it('refuses a revert while an image is open (watcher), and rolls nothing back', async () => {
    const vmId = randomUUID();
    const volumes = await cephVolumes(ceph, 2);
    for (const v of volumes) await writeByte(ceph, v.path, 0x11);
    const taken = await driver.takeVmSnapshot(volumes, snapRef(vmId));
    for (const v of volumes) await writeByte(ceph, v.path, 0x22);

    const holder = await ceph.holdOpen(volumes[1]!.path);
    try {
      expect(await driver.canRevert(volumes[1]!, taken.volumes[1]!)).toEqual({
        ok: false,
        reason: 'the image is open by a running VM',
        blockers: [],
      });
      // The group rollback would touch the open image too: refused, whatever the strategy asked first.
      await expect(driver.revertVmSnapshot(volumes, taken.volumes)).rejects.toThrow(/open by a running VM/);
      for (const v of volumes) expect(await readByte(ceph, v.path)).toBe(0x22);
    } finally {
      await holder.close();
    }
    expect(await driver.canRevert(volumes[1]!, taken.volumes[1]!)).toEqual({ ok: true });
    await driver.revertVmSnapshot(volumes, taken.volumes);
    for (const v of volumes) expect(await readByte(ceph, v.path)).toBe(0x11);
  });

  it('validatePool accepts the right url and reports the pool quota as capacity', async () => {
    const spec = {
      name: 'ceph1',
      zoneId: 'z1',
      url: ceph.url(),
      details: {},
      scope: 'ZONE' as const,
      hostId: null,
    };
    expect(await driver.provider.validatePool(spec)).toEqual({
      path: ceph.pool,
      capacityBytes: ceph.capacityBytes,
    });
  });

  it('validatePool with a wrong key, an unreachable monitor or a missing pool says which, and creates nothing', async () => {
    const quick = new CephRbdDriver({ connectTimeoutMs: 2000 });
    const before = await poolNames(ceph);
    const pools = await ceph.rbd(['pool', 'stats', ceph.pool]); // the pool exists before and after
    const wrongKey = execFileSync('ceph-authtool', ['--gen-print-key'], { encoding: 'utf8' }).trim();
    const spec = (url: string) => ({
      name: 'p',
      zoneId: 'z1',
      url,
      details: {},
      scope: 'ZONE' as const,
      hostId: null,
    });

    const keyError = await quick.provider
      .validatePool(spec(ceph.url({ key: wrongKey })))
      .catch((e: Error) => e);
    expect(keyError).toBeInstanceOf(Error);
    expect((keyError as Error).message).toMatch(/cephx authentication failed/);
    expect((keyError as Error).message).not.toContain(wrongKey);

    const monError = await quick.provider
      .validatePool(spec(ceph.url({ monHost: '127.0.0.1:1' })))
      .catch((e: Error) => e);
    expect((monError as Error).message).toMatch(/no Ceph monitor answered at 127\.0\.0\.1:1/);

    const poolError = await quick.provider
      .validatePool(spec(ceph.url({ pool: 'no-such-pool' })))
      .catch((e: Error) => e);
    expect((poolError as Error).message).toBe('Ceph pool no-such-pool does not exist on the cluster');

    await expect(quick.provider.validatePool(spec('rbd://admin@127.0.0.1/rbd'))).rejects.toThrow(
      /<user>:<url-encoded key>/,
    );
    expect(await poolNames(ceph)).toBe(before);
    expect(await ceph.rbd(['pool', 'stats', ceph.pool])).toBe(pools);
    await expect(ceph.rbd(['ls', 'no-such-pool'])).rejects.toThrow(/No such file/);
  });

  it('crash after the group snapshot: recovery finds it and finishes the take', async () => {
    const vm = makeVm({ id: randomUUID() });
    const volumes = await cephVolumes(ceph, 2);
    const snapshot = makeSnapshot({ id: randomUUID(), state: 'Creating', quiesce: false });
    const ref = { id: snapshot.id, name: snapshot.name, vmId: vm.id };
    const taken = await driver.takeVmSnapshot(volumes, ref); // the cut; the answer is lost in the crash
    expect(await driver.findVmSnapshot(volumes, ref)).toEqual(taken.volumes);

    const gateway = new FakeGuestGateway({});
    try {
      const ctx = fakeContext({ gateway, drivers: [driver] });
      const result = await new StorageVmSnapshotStrategy().reconcileTake(
        ctx,
        makeOp(volumes, { vm, snapshot, quiesce: false }),
      );
      expect(result?.records.map((r) => r.ref)).toEqual(taken.volumes.map((p) => p.ref));
      expect(result?.facts?.recovered).toBe(true);
    } finally {
      gateway.dispose();
    }
    expect(await groupSnaps(ceph, vm.id)).toEqual([{ snapshot: snapshot.id, state: 'ok' }]);
  });

  it('crash with a cut that missed a volume: recovery removes the group snapshot from Ceph', async () => {
    const vm = makeVm({ id: randomUUID() });
    const volumes = await cephVolumes(ceph, 2);
    const snapshot = makeSnapshot({ id: randomUUID(), state: 'Creating', quiesce: false });
    // The group snapshot holds only the first image (the second was attached after the cut).
    await driver.takeVmSnapshot(volumes.slice(0, 1), { id: snapshot.id, name: snapshot.name, vmId: vm.id });
    expect(await groupSnaps(ceph, vm.id)).toHaveLength(1);

    const gateway = new FakeGuestGateway({});
    try {
      const ctx = fakeContext({ gateway, drivers: [driver] });
      const result = await new StorageVmSnapshotStrategy().reconcileTake(
        ctx,
        makeOp(volumes, { vm, snapshot, quiesce: false }),
      );
      expect(result).toBeNull();
    } finally {
      gateway.dispose();
    }
    expect(await groupSnaps(ceph, vm.id)).toEqual([]);
    for (const v of volumes) expect(await driver.listVolumeSnapshots(v)).toEqual([]);
  });
});
