import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StorageSnapshotRef, VolumeInfo } from 'vmsnap/plugin-api';
import { ArrayStorageDriver } from '../src/array-driver.ts';
import { ArrayError, SimulatedArray } from '../src/simulated-array.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vendor-array-'));
  dirs.push(dir);
  return dir;
}

function volumes(count: number, poolId = 'gold'): VolumeInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `vol-${i}`,
    name: `disk-${i}`,
    type: i === 0 ? 'ROOT' : 'DATADISK',
    poolId,
    driver: 'vendor-array',
    pool: {
      id: poolId,
      name: poolId,
      zoneId: 'zone-1',
      provider: 'vendor-array',
      url: `vendor-array://${poolId}`,
      details: {},
      scope: 'ZONE' as const,
      hostId: null,
      path: poolId,
    },
    format: 'RAW',
    path: `/dev/array/vol-${i}`,
    size: (i + 1) * 1024,
    deviceId: i,
  }));
}

const ref = (name: string): StorageSnapshotRef => ({ id: name, name, vmId: 'vm-1' });

function memoryDriver(options: ConstructorParameters<typeof SimulatedArray>[0] = { stateFile: null }) {
  return new ArrayStorageDriver(new SimulatedArray(options));
}

describe('consistency-group snapshots', () => {
  it('cuts many volumes in one call at one instant', async () => {
    const driver = memoryDriver();
    const vols = volumes(16);
    const result = await driver.takeVmSnapshot(vols, ref('s1'));

    expect(driver.array.callCount('take')).toBe(1);
    expect(result.needsUnquiesce).toBe(true);
    expect(result.volumes.map((v) => v.volumeId)).toEqual(vols.map((v) => v.id));
    expect(new Set(result.volumes.map((v) => v.ref)).size).toBe(16);
    const members = vols.map((v) => driver.array.getVolume(v.id)!.snapshots[0]!);
    expect(new Set(members.map((m) => m.groupId)).size).toBe(1);
    expect(new Set(members.map((m) => m.createdAt)).size).toBe(1);
    expect(result.volumes[3]!.size).toBe(4 * 1024);
    expect(driver.array.listPools()).toEqual(['gold']);
  });

  it('declares its capabilities from the array configuration', () => {
    const driver = new ArrayStorageDriver(
      new SimulatedArray({ stateFile: null, revertMode: 'latest-only', maxSnapshotsPerVolume: 3 }),
      { name: 'netapp', needsQuiesce: false },
    );
    expect(driver.name).toBe('netapp');
    expect(driver.capabilities).toEqual({
      canSnapshot: true,
      needsQuiesce: false,
      maxSnapshotsPerVolume: 3,
    });
    expect(driver.array.revertMode).toBe('latest-only');
  });

  it('honours the per-call latency, once per group call', async () => {
    const driver = memoryDriver({ stateFile: null, latencyMs: 40 });
    // On the fake clock: one round trip for the 8 volumes, exactly the latency, however busy the machine.
    vi.useFakeTimers();
    onTestFinished(() => void vi.useRealTimers());
    let done = false;
    const taking = driver.takeVmSnapshot(volumes(8), ref('s1')).finally(() => (done = true));
    await vi.advanceTimersByTimeAsync(39);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    await taking;
    expect(driver.array.callCount('take')).toBe(1);
  });

  it('enforces the snapshot limit atomically across the group', async () => {
    const driver = memoryDriver({ stateFile: null, maxSnapshotsPerVolume: 1 });
    const vols = volumes(2);
    await driver.takeVolumeSnapshot(vols[1]!, ref('only-vol-1'));
    await expect(driver.takeVmSnapshot(vols, ref('s2'))).rejects.toMatchObject({ code: 'LIMIT_REACHED' });
    expect(await driver.listVolumeSnapshots(vols[0]!)).toEqual([]);
  });
});

describe('fault injection', () => {
  it('fails the next N calls of one operation, then recovers, leaving state untouched', async () => {
    const driver = memoryDriver();
    const vols = volumes(2);
    driver.array.failNext({ op: 'take', count: 2, message: 'controller failover' });
    await expect(driver.takeVmSnapshot(vols, ref('a'))).rejects.toThrow('controller failover');
    await expect(driver.takeVolumeSnapshot(vols[0]!, ref('b'))).rejects.toBeInstanceOf(ArrayError);
    expect(await driver.listVolumeSnapshots(vols[0]!)).toEqual([]);
    await driver.takeVmSnapshot(vols, ref('c'));
    expect(await driver.listVolumeSnapshots(vols[0]!)).toHaveLength(1);
    expect(driver.array.callCount('take')).toBe(3);
  });

  it('faults only hit their own operation, and can come from options', async () => {
    const driver = memoryDriver({ stateFile: null, faults: [{ op: 'delete', count: 1 }] });
    const vol = volumes(1)[0]!;
    const snap = await driver.takeVolumeSnapshot(vol, ref('a'));
    await expect(driver.deleteVolumeSnapshot(vol, snap)).rejects.toMatchObject({ code: 'INJECTED_FAULT' });
    await driver.deleteVolumeSnapshot(vol, snap);
    expect(await driver.listVolumeSnapshots(vol)).toEqual([]);
  });

  it('clearFaults disarms everything', async () => {
    const driver = memoryDriver();
    driver.array.failNext({ op: 'list', count: 5 });
    driver.array.clearFaults();
    await expect(driver.listVolumeSnapshots(volumes(1)[0]!)).resolves.toEqual([]);
  });
});

describe('revert', () => {
  async function twoSnapshots(revertMode: 'any' | 'latest-only') {
    const driver = memoryDriver({ stateFile: null, revertMode });
    const vols = volumes(2);
    const req = { volumeId: vols[0]!.id, poolId: 'gold', size: 1024 };
    driver.array.writeVolume(req, 'first');
    const first = await driver.takeVmSnapshot(vols, ref('s1'));
    driver.array.writeVolume(req, 'second');
    const second = await driver.takeVmSnapshot(vols, ref('s2'));
    driver.array.writeVolume(req, 'third');
    return { driver, vols, first, second };
  }

  it('latest-only mode refuses a revert past newer snapshots, naming them, and changes nothing', async () => {
    const { driver, vols, first, second } = await twoSnapshots('latest-only');
    const refused = await driver.revertVmSnapshot(vols, first.volumes).then(
      () => null,
      (err: unknown) => err as ArrayError,
    );
    expect(refused?.code).toBe('NOT_LATEST');
    expect(refused?.blockers).toEqual([second.volumes[0]!.ref]);
    expect(refused?.message).toContain(second.volumes[0]!.ref);
    expect(driver.array.getVolume('vol-0')!.data).toBe('third');

    await driver.revertVmSnapshot(vols, second.volumes);
    expect(driver.array.getVolume('vol-0')!.data).toBe('second');
  });

  it('canRevert answers what revertVmSnapshot would refuse, without reverting anything', async () => {
    const { driver, vols, first, second } = await twoSnapshots('latest-only');
    expect(await driver.canRevert(vols[0]!, first.volumes[0]!)).toEqual({
      ok: false,
      reason: 'the array can only revert to the latest snapshot',
      blockers: [second.volumes[0]!.ref],
    });
    expect(await driver.canRevert(vols[0]!, second.volumes[0]!)).toEqual({ ok: true });
    expect(await driver.canRevert(vols[0]!, { volumeId: 'vol-0', ref: 'snap-999999' })).toEqual({
      ok: false,
      reason: 'snapshot snap-999999 no longer exists on the array',
      blockers: [],
    });
    expect(driver.array.callCount('revert')).toBe(0);
    expect(driver.array.getVolume('vol-0')!.data).toBe('third');
    const any = await twoSnapshots('any');
    expect(await any.driver.canRevert(any.vols[0]!, any.first.volumes[0]!)).toEqual({ ok: true });
  });

  it('any mode reverts to an older snapshot and keeps the newer ones', async () => {
    const { driver, vols, first } = await twoSnapshots('any');
    await driver.revertVolumeSnapshot(vols[0]!, first.volumes[0]!);
    expect(driver.array.getVolume('vol-0')!.data).toBe('first');
    expect(await driver.listVolumeSnapshots(vols[0]!)).toHaveLength(2);
  });

  it('refuses to revert to a snapshot that does not exist', async () => {
    const driver = memoryDriver();
    await expect(
      driver.revertVolumeSnapshot(volumes(1)[0]!, { volumeId: 'vol-0', ref: 'snap-999999' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('durable state', () => {
  it('survives re-instantiation from the same state file, without reusing ids', async () => {
    const stateFile = join(tempDir(), 'vendor-array', 'array1.json');
    const before = memoryDriver({ stateFile, pools: ['silver'] });
    const vols = volumes(3);
    before.array.writeVolume({ volumeId: 'vol-0', poolId: 'gold', size: 1024 }, 'hello');
    const taken = await before.takeVmSnapshot(vols, ref('s1'));

    const after = memoryDriver({ stateFile });
    expect(after.array.listPools()).toEqual(['gold', 'silver']);
    expect(await after.listVolumeSnapshots(vols[2]!)).toEqual([taken.volumes[2]!.ref]);
    after.array.writeVolume({ volumeId: 'vol-0', poolId: 'gold', size: 1024 }, 'changed');
    await after.revertVmSnapshot(vols, taken.volumes);
    expect(after.array.getVolume('vol-0')!.data).toBe('hello');

    const next = await after.takeVmSnapshot(vols, ref('s2'));
    expect(next.volumes.map((v) => v.ref)).not.toContain(taken.volumes[0]!.ref);
    // Atomic writes leave no temp files behind.
    expect(readdirSync(join(stateFile, '..'))).toEqual(['array1.json']);
  });

  it('keeps nothing on disk in memory-only mode', async () => {
    const dir = tempDir();
    const driver = memoryDriver({ stateFile: null });
    await driver.takeVmSnapshot(volumes(1), ref('s1'));
    expect(existsSync(join(dir, 'vendor-array'))).toBe(false);
    expect(memoryDriver().array.getVolume('vol-0')).toBeUndefined();
  });
});
