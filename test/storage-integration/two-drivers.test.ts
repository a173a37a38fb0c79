/**
 * A VM with volumes on two array drivers, through the real stack: one group call per driver, both
 * drivers at once, and one freeze / one thaw of the guest around the pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/test-app.ts';
import {
  FIRST_DRIVER,
  SECOND_DRIVER,
  addVmOnDrivers,
  arrayOf,
  openTwoArrayApp,
  snapshotsOnArray,
  takeSnapshot,
} from './array-fixtures.ts';

/** Each array call waits this long, so the two drivers' takes are in flight together when concurrent. */
const LATENCY_MS = 100;

let t: TestApp;
beforeAll(async () => {
  t = await openTwoArrayApp({ latencyMs: LATENCY_MS });
});
afterAll(async () => {
  await t.close();
});

describe('a VM with volumes on two drivers', () => {
  it('calls each driver once, concurrently, inside a single freeze and thaw', async () => {
    // Four disks dealt over two drivers: two volumes per driver, still one call each.
    const vm = await addVmOnDrivers(t, 'two-arrays', [FIRST_DRIVER, SECOND_DRIVER], 4);
    const first = arrayOf(t.app, FIRST_DRIVER);
    const second = arrayOf(t.app, SECOND_DRIVER);
    const takesBefore = [first.callCount('take'), second.callCount('take')];

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

    expect(error).toBe('');
    expect(snap.state).toBe('Ready');
    expect(snap.strategy).toBe('storage');
    expect([first.callCount('take') - takesBefore[0]!, second.callCount('take') - takesBefore[1]!]).toEqual([
      1, 1,
    ]);

    // Concurrent: each driver's take began before the other's ended (one after the other, the
    // second would begin only after the first ended). Order, not duration, so a busy machine that
    // stretches every call cannot flip it.
    const d = snap.details;
    const [a] = first.callIntervals('take').slice(-1);
    const [b] = second.callIntervals('take').slice(-1);
    expect(a!.startedAt).toBeLessThan(b!.endedAt);
    expect(b!.startedAt).toBeLessThan(a!.endedAt);
    const driverMs = [Number(d[`driver.${FIRST_DRIVER}.ms`]), Number(d[`driver.${SECOND_DRIVER}.ms`])];
    expect(driverMs[0]).toBeGreaterThanOrEqual(LATENCY_MS - 1);
    expect(driverMs[1]).toBeGreaterThanOrEqual(LATENCY_MS - 1);

    const guest = t.app.simulator.inspect(vm.instanceName);
    expect(guest?.counters).toEqual({ freezes: 1, thaws: 1, watchdogThaws: 0 });
    expect(guest?.frozen).toBe(false);
    expect(guest?.lastFreezeWindow?.thawedBy).toBe('agent');
    expect(d['consistency']).toBe('application-consistent');
    expect(d['thaw']).toBe('ok');
    // The freeze held across both drivers' takes (one freeze, the cut inside it).
    const window = Number(d['freezeWindowMs']);
    expect(window).toBeGreaterThanOrEqual(Math.max(...driverMs));

    // One record per volume, each naming its driver and the snapshot its array holds.
    expect(snap.volumes).toHaveLength(4);
    for (const [i, volumeId] of vm.volumeIds.entries()) {
      const driver = i % 2 === 0 ? FIRST_DRIVER : SECOND_DRIVER;
      const record = snap.volumes.find((r) => r.volumeId === volumeId);
      expect(record?.driver).toBe(driver);
      expect(snapshotsOnArray(t.app, driver, [volumeId])).toEqual([[record?.ref]]);
    }
    // Each driver cut its volumes as one consistency group.
    const groupOf = (driver: string, volumeId: string): string | undefined =>
      arrayOf(t.app, driver).getVolume(volumeId)?.snapshots[0]?.groupId;
    expect(groupOf(FIRST_DRIVER, vm.volumeIds[0]!)).toBe(groupOf(FIRST_DRIVER, vm.volumeIds[2]!));
    expect(groupOf(SECOND_DRIVER, vm.volumeIds[1]!)).toBe(groupOf(SECOND_DRIVER, vm.volumeIds[3]!));
  });

  it('quiesce=false never freezes the guest and says crash-consistent', async () => {
    const vm = await addVmOnDrivers(t, 'no-quiesce', [FIRST_DRIVER, SECOND_DRIVER]);
    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: false });

    expect(error).toBe('');
    expect(snap.state).toBe('Ready');
    expect(snap.details['consistency']).toBe('crash-consistent');
    expect(snap.details['freezeWindowMs']).toBe(0);
    expect(t.app.simulator.inspect(vm.instanceName)?.counters).toEqual({
      freezes: 0,
      thaws: 0,
      watchdogThaws: 0,
    });
  });
});
