/**
 * Freeze-window bench through the real stack: the App (SQLite, job queue, manager, storage strategy),
 * the simulator's guest agent (present) and the vendor array plugin loaded by the plugin loader, with
 * `ARRAY_LATENCY_MS` per array call. For 1, 4 and 16 volumes spread over 1 or 2 array drivers it takes
 * `RUNS` quiesced disk snapshots and reports median figures:
 *
 *  - guest frozen: how long the simulated guest was frozen (its own frozenAt -> thawedAt);
 *  - strategy window: `details.freezeWindowMs`, from sending the freeze to the thaw's answer;
 *  - driver phase: `details['phase.snapshot.ms']`, all drivers' cuts (they run at once);
 *  - take total: the strategy's whole take, quiesce to return (`details.totalMs`).
 *
 * Volumes are dealt round-robin over the drivers, so 1 volume over 2 drivers uses only one of them.
 * Expected shape: one consistency-group call per driver, all drivers at once, so the window is about
 * one array round trip plus the freeze and thaw calls, flat in the number of volumes and drivers.
 *
 * Run: `npm run bench:freeze`. The last line is machine-readable (guest-frozen medians).
 */
import Table from 'cli-table3';
import type { TestApp } from '../test/helpers/test-app.ts';
import {
  FIRST_DRIVER,
  SECOND_DRIVER,
  addVmOnDrivers,
  arrayOf,
  openTwoArrayApp,
  takeSnapshot,
  type AddedVm,
} from '../test/storage-integration/array-fixtures.ts';

const ARRAY_LATENCY_MS = 5;
const RUNS = 31;
const WARMUP_RUNS = 3;
const VOLUME_COUNTS = [1, 4, 16] as const;
const DRIVER_COUNTS = [1, 2] as const;

interface Sample {
  readonly volumes: number;
  readonly drivers: number;
  readonly guestFrozenMs: number;
  readonly guestFrozenMaxMs: number;
  readonly strategyWindowMs: number;
  readonly driverPhaseMs: number;
  readonly takeTotalMs: number;
  readonly arrayCallsPerSnapshot: number;
}

interface Run {
  readonly guestFrozenMs: number;
  readonly strategyWindowMs: number;
  readonly driverPhaseMs: number;
  readonly takeTotalMs: number;
}

async function snapshotOnce(t: TestApp, vm: AddedVm): Promise<Run> {
  const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });
  if (snap.state !== 'Ready') throw new Error(`snapshot of ${vm.instanceName} failed: ${error}`);
  if (snap.details['consistency'] !== 'application-consistent')
    throw new Error(`snapshot of ${vm.instanceName} was not quiesced: ${JSON.stringify(snap.details)}`);
  const window = t.app.simulator.inspect(vm.instanceName)?.lastFreezeWindow;
  if (window === null || window === undefined || window.thawedBy !== 'agent')
    throw new Error(`the guest of ${vm.instanceName} was not thawed by the agent`);
  return {
    guestFrozenMs: window.ms,
    strategyWindowMs: Number(snap.details['freezeWindowMs']),
    driverPhaseMs: Number(snap.details['phase.snapshot.ms']),
    takeTotalMs: Number(snap.details['totalMs']),
  };
}

async function measure(t: TestApp, volumeCount: number, driverCount: number): Promise<Sample> {
  const drivers = [FIRST_DRIVER, SECOND_DRIVER].slice(0, driverCount);
  const vm = await addVmOnDrivers(t, `bench-v${volumeCount}-d${driverCount}`, drivers, volumeCount);
  const takes = (): number =>
    arrayOf(t.app, FIRST_DRIVER).callCount('take') + arrayOf(t.app, SECOND_DRIVER).callCount('take');
  for (let i = 0; i < WARMUP_RUNS; i++) await snapshotOnce(t, vm);
  const takesBefore = takes();
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await snapshotOnce(t, vm));
  const guest = runs.map((r) => r.guestFrozenMs);
  return {
    volumes: volumeCount,
    drivers: driverCount,
    guestFrozenMs: median(guest),
    guestFrozenMaxMs: Math.max(...guest),
    strategyWindowMs: median(runs.map((r) => r.strategyWindowMs)),
    driverPhaseMs: median(runs.map((r) => r.driverPhaseMs)),
    takeTotalMs: median(runs.map((r) => r.takeTotalMs)),
    arrayCallsPerSnapshot: (takes() - takesBefore) / RUNS,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Math.round(value * 10) / 10;
}

async function main(): Promise<void> {
  const t = await openTwoArrayApp({ latencyMs: ARRAY_LATENCY_MS });
  const samples: Sample[] = [];
  try {
    // Every run adds a snapshot to its VM; lift the per-VM cap for the bench.
    await t.app.deps.settings.set('vmsnapshot.max', String(10 * (RUNS + WARMUP_RUNS)));
    for (const driverCount of DRIVER_COUNTS) {
      for (const volumeCount of VOLUME_COUNTS) samples.push(await measure(t, volumeCount, driverCount));
    }
  } finally {
    await t.close();
  }
  const table = new Table({
    // No colours: the table is pasted into docs/benchmarks.md as it is.
    style: { head: [], border: [] },
    head: [
      'volumes',
      'drivers',
      'guest frozen ms (median)',
      'max',
      'strategy window ms',
      'driver phase ms',
      'take total ms',
      'array calls / snapshot',
    ],
  });
  for (const s of samples) {
    table.push([
      s.volumes,
      s.drivers,
      s.guestFrozenMs,
      s.guestFrozenMaxMs,
      s.strategyWindowMs,
      s.driverPhaseMs,
      s.takeTotalMs,
      s.arrayCallsPerSnapshot,
    ]);
  }
  console.log(
    `storage snapshot freeze window through the App and simulator: median of ${RUNS} quiesced snapshots ` +
      `each (after ${WARMUP_RUNS} warm-up), array latency ${ARRAY_LATENCY_MS} ms/call, guest agent present`,
  );
  console.log(table.toString());
  const fields = samples.map((s) => `v${s.volumes}d${s.drivers}_ms=${s.guestFrozenMs}`);
  console.log(`bench:freeze ${fields.join(' ')}`);
}

await main();
