/**
 * The storage strategy asks every volume's driver `canRevert` before any revert (Proxmox's
 * `volume_rollback_is_possible`), and refuses with what blocks it; it no longer reads a revert
 * capability nor decides from listings of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverVolumeSnapshot, RevertCheck, VolumeInfo } from 'vmsnap/plugin-api';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { ArrayStorageDriver } from '../../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray } from '../../examples/vendor-array-plugin/src/simulated-array.ts';
import { FakeGuestGateway, fakeContext, makeOp, makeVolumes, withRecords } from './fake-strategy-context.ts';
import { PerVolumeDriver } from './per-volume-driver.ts';

const strategy = new StorageVmSnapshotStrategy();
const gateways: FakeGuestGateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.dispose();
});

/** A VM with two volumes on an any-revert array and two on a latest-only per-volume driver. */
async function twoSnapshotsOnTwoDrivers() {
  const array = new ArrayStorageDriver(new SimulatedArray({ stateFile: null }), { name: 'array' });
  const zfs = new PerVolumeDriver('zfs', 0, {}, true);
  const gateway = new FakeGuestGateway();
  gateways.push(gateway);
  const ctx = fakeContext({ gateway, drivers: [array, zfs] });
  const volumes = [...makeVolumes('array', 2), ...makeVolumes('zfs', 2)];
  const op1 = makeOp(volumes);
  const first = withRecords(op1, (await strategy.takeVmSnapshot(ctx, op1)).records);
  const op2 = makeOp(volumes);
  const second = withRecords(op2, (await strategy.takeVmSnapshot(ctx, op2)).records);
  const opFor = (snapshot: typeof first) => makeOp(volumes, { snapshot, siblings: [first, second] });
  return { array, zfs, ctx, first, second, opFor };
}

describe('revert checks per volume', () => {
  it('one driver refusing stops the revert on every driver, naming each blocked volume and its blockers', async () => {
    const { array, zfs, ctx, first, second, opFor } = await twoSnapshotsOnTwoDrivers();
    const blockedBy = (i: number): string => {
      const ref = second.volumes.find((r) => r.volumeId === `zfs-vol-${i}`)!.ref!;
      return `volume zfs-disk-${i} on storage driver zfs: only the newest snapshot can be reverted; blocked by: ${second.displayName} (${ref})`;
    };
    const message = `Cannot revert to ${first.displayName}: ${blockedBy(0)}; ${blockedBy(1)}`;

    await expect(strategy.validateRevert(ctx, opFor(first))).rejects.toThrow(message);
    await expect(strategy.revertVmSnapshot(ctx, opFor(first))).rejects.toThrow(message);
    // The any-revert array was asked too, and said yes, but nothing was reverted anywhere.
    expect(array.array.callCount('revert')).toBe(0);
    expect(zfs.callsOf('revertVolumeSnapshot')).toEqual([]);

    await strategy.revertVmSnapshot(ctx, opFor(second));
    expect(array.array.callCount('revert')).toBe(1);
    expect(zfs.callsOf('revertVolumeSnapshot')).toHaveLength(2);
  });

  it("the driver's answer decides, not the strategy's reading of its snapshot list", async () => {
    const { zfs, ctx, first, opFor } = await twoSnapshotsOnTwoDrivers();
    const asked: string[] = [];
    // A driver that can revert past newer snapshots (it clones, say), though it lists them.
    zfs.canRevert = async (volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<RevertCheck> => {
      asked.push(`${volume.id}=${snapshot.ref}`);
      return { ok: true };
    };
    await strategy.revertVmSnapshot(ctx, opFor(first));
    expect(asked.sort()).toEqual(
      first.volumes
        .filter((r) => r.driver === 'zfs')
        .map((r) => `${r.volumeId}=${r.ref}`)
        .sort(),
    );
    expect(zfs.callsOf('revertVolumeSnapshot')).toHaveLength(2);
  });

  it('a refusal without blockers says only why', async () => {
    const { zfs, ctx, first, opFor } = await twoSnapshotsOnTwoDrivers();
    zfs.canRevert = async (): Promise<RevertCheck> => ({
      ok: false,
      reason: 'the pool is being scrubbed',
      blockers: [],
    });
    await expect(strategy.validateRevert(ctx, opFor(first))).rejects.toThrow(
      `Cannot revert to ${first.displayName}: volume zfs-disk-0 on storage driver zfs: the pool is being scrubbed; ` +
        'volume zfs-disk-1 on storage driver zfs: the pool is being scrubbed',
    );
  });
});
