/**
 * What every storage driver must do, as the storage strategy relies on it (docs/plugins.md, "The
 * rules a driver must follow"): one suite run against every driver in the repository, as Nova runs
 * one driver test case against every virt driver. A vendor can run it against theirs.
 *
 * It talks to the driver only through the contract: group methods when the driver has them, the
 * per-volume methods always (they are required), and `canRevert`, `listVolumeSnapshots` and
 * `findVmSnapshot` as the strategy uses them. A driver with a `provider` also passes its pool checks
 * (createStoragePool's validation and listStoragePools' figures). A driver that snapshots nothing
 * itself (`canSnapshot: false`, e.g. the built-in `file` driver, whose pools the hypervisor
 * snapshots) passes the refusal checks instead: the storage strategy never picks it, and every
 * snapshot call it gets anyway is refused with a reason.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  DriverVolumeSnapshot,
  PoolSpec,
  StorageDriver,
  StorageSnapshotRef,
  VolumeInfo,
} from 'vmsnap/plugin-api';
import { StrategyPriority } from 'vmsnap/plugin-api';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { testPoolInfo } from '../helpers/pool-info.ts';
import { makeVm } from '../storage/fake-strategy-context.ts';

export interface DriverUnderTest {
  readonly driver: StorageDriver;
  /** Removes what the driver keeps (files, arrays); optional. */
  close?(): Promise<void>;
  /**
   * Volumes the driver can really reach (e.g. files in a VM subvolume on a host), for drivers that
   * cannot serve made-up ones; absent: the suite makes them up.
   */
  volumes?(count: number): Promise<VolumeInfo[]>;
}

/** A pool the driver's provider must accept, and one it must refuse. */
export interface ProviderCases {
  readonly valid: PoolSpec;
  readonly invalid: PoolSpec;
  /** What the refusal says (it must say why, e.g. which part of the url is wrong). */
  readonly refusal: RegExp;
  /** A credential in the urls (a cephx key) that no message may quote. */
  readonly secret?: string;
}

export interface StorageDriverSuiteOptions {
  /** The driver reverts only to a volume's newest snapshot (ZFS, Cinder style). */
  readonly latestOnly?: boolean;
  /**
   * False for a driver that snapshots nothing itself (`canSnapshot: false`): the refusal checks run
   * instead of the snapshot ones. Default true.
   */
  readonly snapshots?: boolean;
  /** Pools for the provider checks; required when the driver has a `provider`. Called in a test. */
  readonly pools?: () => ProviderCases | Promise<ProviderCases>;
}

/** Registers the conformance tests; `open` gives a fresh driver for every test. */
export function storageDriverSuite(
  name: string,
  open: () => Promise<DriverUnderTest>,
  options: StorageDriverSuiteOptions = {},
): void {
  describe(`storage driver conformance: ${name}`, () => {
    const opened: DriverUnderTest[] = [];
    afterEach(async () => {
      for (const d of opened.splice(0)) await d.close?.();
    });
    async function fresh(): Promise<{ driver: StorageDriver; volumes: VolumeInfo[] }> {
      const under = await open();
      opened.push(under);
      const volumes = under.volumes ? await under.volumes(2) : volumesOn(under.driver.name, 2);
      return { driver: under.driver, volumes };
    }

    const snapshots = options.snapshots ?? true;

    it('declares its capabilities, and its provider when it has one', async () => {
      const { driver } = await fresh();
      expect(driver.name).not.toBe('');
      expect(driver.capabilities.canSnapshot).toBe(snapshots);
      expect(typeof driver.capabilities.needsQuiesce).toBe('boolean');
      const max = driver.capabilities.maxSnapshotsPerVolume;
      if (max !== null) expect(Number.isInteger(max) && max > 0).toBe(true);
      if (driver.provider !== undefined) {
        expect(driver.provider.description).not.toBe('');
        expect(driver.provider.urlSchemes.length).toBeGreaterThan(0);
        // Pools are created on a provider through the API: its checks must run too.
        expect(options.pools, `${name} has a provider: give the suite its pools`).toBeDefined();
      }
    });

    if (options.pools !== undefined) providerChecks(fresh, options.pools);
    if (snapshots) snapshotChecks(fresh, options);
    else refusalChecks(fresh);
  });
}

type Fresh = () => Promise<{ driver: StorageDriver; volumes: VolumeInfo[] }>;

/** createStoragePool's validation and listStoragePools' figures, through the driver's provider. */
function providerChecks(fresh: Fresh, pools: NonNullable<StorageDriverSuiteOptions['pools']>): void {
  it('its provider accepts a usable pool: a path, a capacity, and stats within it', async () => {
    const { driver } = await fresh();
    const provider = driver.provider;
    if (provider === undefined) throw new Error(`${driver.name} has no provider`);
    const { valid } = await pools();
    expect(provider.urlSchemes).toContain(new URL(valid.url).protocol.replace(/:$/, ''));
    const created = await provider.validatePool(valid);
    expect(created.path).not.toBe('');
    expect(Number.isSafeInteger(created.capacityBytes) && created.capacityBytes >= 0).toBe(true);
    const stats = await provider.poolStats({
      ...valid,
      id: randomUUID(),
      provider: driver.name,
      path: created.path,
    });
    expect(Number.isSafeInteger(stats.usedBytes) && stats.usedBytes >= 0).toBe(true);
    expect(stats.capacityBytes).toBeGreaterThan(0);
    expect(stats.usedBytes).toBeLessThanOrEqual(stats.capacityBytes);
  });

  it('its provider refuses a pool it cannot use, saying why, never quoting a credential', async () => {
    const { driver } = await fresh();
    const { invalid, refusal, secret } = await pools();
    const refused = await driver.provider?.validatePool(invalid).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(Error);
    const message = (refused as Error).message;
    expect(message).toMatch(refusal);
    if (secret !== undefined) {
      expect(message).not.toContain(secret);
      expect(message).not.toContain(encodeURIComponent(secret));
    }
  });
}

/**
 * A driver that snapshots nothing itself: the storage strategy never picks its volumes, and a
 * snapshot call that reaches it anyway is refused with a reason, changing nothing.
 */
function refusalChecks(fresh: Fresh): void {
  it('the storage strategy never picks its volumes', async () => {
    const { driver, volumes } = await fresh();
    const picked = new StorageVmSnapshotStrategy().canHandle({
      vm: makeVm(),
      volumes,
      type: 'Disk',
      quiesce: false,
      drivers: new Map([[driver.name, driver]]),
    });
    expect(picked).toBe(StrategyPriority.CANT_HANDLE);
  });

  it('refuses every snapshot call with a reason, and holds no snapshot', async () => {
    const { driver, volumes } = await fresh();
    const volume = volumes[0]!;
    const piece: DriverVolumeSnapshot = { volumeId: volume.id, ref: 'never-taken' };
    const calls: [string, () => Promise<unknown>][] = [
      ['takeVolumeSnapshot', () => driver.takeVolumeSnapshot(volume, ref('s1'))],
      ['revertVolumeSnapshot', () => driver.revertVolumeSnapshot(volume, piece)],
      ['deleteVolumeSnapshot', () => driver.deleteVolumeSnapshot(volume, piece)],
    ];
    if (driver.takeVmSnapshot)
      calls.push(['takeVmSnapshot', () => driver.takeVmSnapshot!(volumes, ref('s2'))]);
    for (const [what, call] of calls) {
      const refused = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused, `${what} must be refused`).toBeInstanceOf(Error);
      expect((refused as Error).message).not.toBe('');
    }
    const check = await driver.canRevert(volume, piece);
    expect(check).toMatchObject({ ok: false, blockers: [] });
    expect(check.ok === false && check.reason.length > 0).toBe(true);
    expect(await listAll(driver, volumes)).toEqual([[], []]);
  });
}

/** What the storage strategy relies on from a driver that takes the snapshots. */
function snapshotChecks(fresh: Fresh, options: StorageDriverSuiteOptions): void {
  it('takes one snapshot per volume, each listed oldest first under its own ref', async () => {
    const { driver, volumes } = await fresh();
    const first = await take(driver, volumes, ref('s1'));
    const second = await take(driver, volumes, ref('s2'));
    for (const [i, volume] of volumes.entries()) {
      const refs = [first[i]!.ref, second[i]!.ref];
      expect(new Set(refs).size).toBe(2);
      expect(await driver.listVolumeSnapshots(volume)).toEqual(refs);
    }
    expect(new Set([...first, ...second].map((s) => s.ref)).size).toBe(4);
  });

  it('the per-volume take works on its own, whether or not the driver has group methods', async () => {
    const { driver, volumes } = await fresh();
    const one = await driver.takeVolumeSnapshot(volumes[0]!, ref('single'));
    expect(one.volumeId).toBe(volumes[0]!.id);
    expect(await driver.listVolumeSnapshots(volumes[0]!)).toEqual([one.ref]);
    expect(await driver.listVolumeSnapshots(volumes[1]!)).toEqual([]);
  });

  it('canRevert says yes to the newest snapshot and reverts it; changes nothing by asking', async () => {
    const { driver, volumes } = await fresh();
    await take(driver, volumes, ref('s1'));
    const newest = await take(driver, volumes, ref('s2'));
    const before = await listAll(driver, volumes);
    for (const [i, volume] of volumes.entries()) {
      expect(await driver.canRevert(volume, newest[i]!)).toEqual({ ok: true });
    }
    expect(await listAll(driver, volumes)).toEqual(before);
    await revert(driver, volumes, newest);
    expect(await listAll(driver, volumes)).toEqual(before); // a revert keeps every snapshot
  });

  it(
    options.latestOnly === true
      ? 'canRevert refuses an older snapshot, naming the newer ones as blockers'
      : 'canRevert allows an older snapshot, and the revert to it succeeds',
    async () => {
      const { driver, volumes } = await fresh();
      const older = await take(driver, volumes, ref('s1'));
      const newer = await take(driver, volumes, ref('s2'));
      for (const [i, volume] of volumes.entries()) {
        const check = await driver.canRevert(volume, older[i]!);
        if (options.latestOnly === true) {
          expect(check).toMatchObject({ ok: false, blockers: [newer[i]!.ref] });
          expect(check.ok === false && check.reason.length > 0).toBe(true);
        } else {
          expect(check).toEqual({ ok: true });
        }
      }
      if (options.latestOnly !== true) await revert(driver, volumes, older);
    },
  );

  it('canRevert refuses a snapshot that is gone, with a reason and no blockers', async () => {
    const { driver, volumes } = await fresh();
    const [taken] = await take(driver, volumes.slice(0, 1), ref('s1'));
    await driver.deleteVolumeSnapshot(volumes[0]!, taken!);
    const check = await driver.canRevert(volumes[0]!, taken!);
    expect(check).toMatchObject({ ok: false, blockers: [] });
    expect(check.ok === false && check.reason.length > 0).toBe(true);
  });

  it('deletes snapshots, and deleting one that is gone succeeds', async () => {
    const { driver, volumes } = await fresh();
    const first = await take(driver, volumes, ref('s1'));
    const second = await take(driver, volumes, ref('s2'));
    await remove(driver, volumes, first);
    for (const [i, volume] of volumes.entries()) {
      expect(await driver.listVolumeSnapshots(volume)).toEqual([second[i]!.ref]);
    }
    await remove(driver, volumes, first);
    await driver.deleteVolumeSnapshot(volumes[0]!, first[0]!);
    expect(await driver.listVolumeSnapshots(volumes[0]!)).toEqual([second[0]!.ref]);
  });

  it('findVmSnapshot (when offered) finds the pieces of a take by the name it was given', async () => {
    const { driver, volumes } = await fresh();
    if (driver.findVmSnapshot === undefined) return; // optional: recovery then cannot clean up
    const s1 = ref('s1');
    const taken = await take(driver, volumes, s1);
    await take(driver, volumes, ref('s2'));
    const found = await driver.findVmSnapshot(volumes, s1);
    expect(sortByVolume(found).map((p) => [p.volumeId, p.ref])).toEqual(
      sortByVolume(taken).map((p) => [p.volumeId, p.ref]),
    );
    expect(await driver.findVmSnapshot(volumes, ref('never-taken'))).toEqual([]);
  });
}

/** A take as the storage strategy makes it: the group call if there is one, else one per volume. */
async function take(
  driver: StorageDriver,
  volumes: readonly VolumeInfo[],
  snapshot: StorageSnapshotRef,
): Promise<DriverVolumeSnapshot[]> {
  const taken = driver.takeVmSnapshot
    ? (await driver.takeVmSnapshot(volumes, snapshot)).volumes
    : await Promise.all(volumes.map((v) => driver.takeVolumeSnapshot(v, snapshot)));
  // One piece per volume, in any order: returned in the volumes' order for the checks.
  expect(sortByVolume(taken).map((s) => s.volumeId)).toEqual(volumes.map((v) => v.id).sort());
  return volumes.map((v) => taken.find((s) => s.volumeId === v.id)!);
}

async function revert(
  driver: StorageDriver,
  volumes: readonly VolumeInfo[],
  snapshots: readonly DriverVolumeSnapshot[],
): Promise<void> {
  if (driver.revertVmSnapshot) await driver.revertVmSnapshot(volumes, snapshots);
  else for (const [i, v] of volumes.entries()) await driver.revertVolumeSnapshot(v, snapshots[i]!);
}

async function remove(
  driver: StorageDriver,
  volumes: readonly VolumeInfo[],
  snapshots: readonly DriverVolumeSnapshot[],
): Promise<void> {
  if (driver.deleteVmSnapshot) await driver.deleteVmSnapshot(volumes, snapshots);
  else for (const [i, v] of volumes.entries()) await driver.deleteVolumeSnapshot(v, snapshots[i]!);
}

async function listAll(driver: StorageDriver, volumes: readonly VolumeInfo[]): Promise<string[][]> {
  return Promise.all(volumes.map(async (v) => [...(await driver.listVolumeSnapshots(v))]));
}

function sortByVolume(pieces: readonly DriverVolumeSnapshot[]): DriverVolumeSnapshot[] {
  return [...pieces].sort((a, b) => a.volumeId.localeCompare(b.volumeId));
}

function ref(name: string): StorageSnapshotRef {
  return { id: randomUUID(), name: `${name}-${randomUUID().slice(0, 8)}`, vmId: 'vm-conformance' };
}

function volumesOn(driver: string, count: number): VolumeInfo[] {
  const vmTag = randomUUID().slice(0, 8);
  return Array.from({ length: count }, (_, i) => ({
    id: `${driver}-${vmTag}-vol-${i}`,
    name: `${driver}-disk-${i}`,
    type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
    poolId: `${driver}-pool`,
    driver,
    pool: testPoolInfo(driver),
    format: 'RAW' as const,
    path: `/${driver}/${vmTag}/vol-${i}`,
    size: 1 << 20,
    deviceId: i,
  }));
}
