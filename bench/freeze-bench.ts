/**
 * Freeze-window bench for the storage strategy: how long the guest stays frozen for 1, 4 and 16
 * volumes spread over 1 or 2 vendor-array drivers. Uses the in-process fakes (array latency
 * `ARRAY_LATENCY_MS` per call, guest freeze/thaw `AGENT_LATENCY_MS` each), not the simulator.
 *
 * With 1 volume over 2 drivers only one driver holds a volume (volumes are dealt round-robin).
 *
 * Expected shape: one consistency-group call per driver, all drivers at once, so the window is
 * about freeze + one array round trip + thaw, flat in the number of volumes and drivers.
 *
 * Run: `npm run bench:freeze`. The last line is machine-readable.
 */
import Table from 'cli-table3';
import { StorageVmSnapshotStrategy } from '../src/strategies/storage-strategy.ts';
import { ArrayStorageDriver } from '../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray } from '../examples/vendor-array-plugin/src/simulated-array.ts';
import { FakeGuestGateway, fakeContext, makeOp, makeVolumes } from '../test/storage/fake-strategy-context.ts';

const ARRAY_LATENCY_MS = 5;
const AGENT_LATENCY_MS = 2;
const ITERATIONS = 20;
const VOLUME_COUNTS = [1, 4, 16] as const;
const DRIVER_COUNTS = [1, 2] as const;

interface Sample {
  readonly volumes: number;
  readonly drivers: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly maxMs: number;
  readonly arrayCallsPerSnapshot: number;
}

async function measure(volumeCount: number, driverCount: number): Promise<Sample> {
  const drivers = Array.from(
    { length: driverCount },
    (_, i) =>
      new ArrayStorageDriver(new SimulatedArray({ stateFile: null, latencyMs: ARRAY_LATENCY_MS }), {
        name: `array-${i}`,
      }),
  );
  // Volumes dealt round-robin over the drivers, as a VM with disks on two arrays would have them.
  const volumes = Array.from({ length: volumeCount }, (_, i) => {
    const driver = drivers[i % driverCount]!;
    const [volume] = makeVolumes(driver.name, 1, `${driver.name}-${i}`);
    return volume!;
  });
  const gateway = new FakeGuestGateway({ freezeDelayMs: AGENT_LATENCY_MS, thawDelayMs: AGENT_LATENCY_MS });
  const strategy = new StorageVmSnapshotStrategy();
  const windows: number[] = [];
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const ctx = fakeContext({ gateway, drivers });
      const result = await strategy.takeVmSnapshot(ctx, makeOp(volumes));
      windows.push(Number(result.details?.['freezeWindowMs'] ?? Number.NaN));
    }
  } finally {
    gateway.dispose();
  }
  const takes = drivers.reduce((n, d) => n + d.array.callCount('take'), 0);
  windows.sort((a, b) => a - b);
  return {
    volumes: volumeCount,
    drivers: driverCount,
    medianMs: percentile(windows, 0.5),
    p95Ms: percentile(windows, 0.95),
    maxMs: windows[windows.length - 1]!,
    arrayCallsPerSnapshot: takes / ITERATIONS,
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  await measure(4, 2); // warm-up: the first snapshots pay for JIT compilation, not for freezing
  const samples: Sample[] = [];
  for (const driverCount of DRIVER_COUNTS) {
    for (const volumeCount of VOLUME_COUNTS) samples.push(await measure(volumeCount, driverCount));
  }
  const table = new Table({
    head: ['volumes', 'drivers', 'freeze median ms', 'p95 ms', 'max ms', 'array calls / snapshot'],
  });
  for (const s of samples) {
    table.push([s.volumes, s.drivers, s.medianMs, s.p95Ms, s.maxMs, s.arrayCallsPerSnapshot]);
  }
  console.log(
    `storage strategy freeze window, ${ITERATIONS} snapshots each ` +
      `(array latency ${ARRAY_LATENCY_MS} ms/call, guest freeze/thaw ${AGENT_LATENCY_MS} ms each)`,
  );
  console.log(table.toString());
  const fields = samples.map((s) => `v${s.volumes}d${s.drivers}_ms=${s.medianMs}`);
  console.log(`bench:freeze ${fields.join(' ')}`);
}

await main();
