/**
 * Shared setup for the storage integration tests: a real App (SQLite, simulator, job queue) with the
 * vendor array plugin loaded through the plugin loader, plus helpers to add pools and VMs on any
 * driver (the way src/app/seed.ts does: rows, then the simulator is told) and to take snapshots
 * through the manager.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { VolumeTO } from '../../src/core/plugin-api.ts';
import type { PluginSpecConfig } from '../../src/app/app-config.ts';
import type { App } from '../../src/app/app.ts';
import type { CreateSnapshotRequest } from '../../src/manager/vm-snapshot-manager.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import type { SimulatedArray } from '../../examples/vendor-array-plugin/src/index.ts';
import { EVENTUALLY_TIMEOUT_MS, eventually } from '../helpers/eventually.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { firstZone } from '../helpers/vm-factory.ts';

/** The example plugin's package directory, as a third party's config would name it. */
export const VENDOR_PLUGIN_DIR = resolve(import.meta.dirname, '../../examples/vendor-array-plugin');
/** A copy of the plugin under another plugin name (the loader refuses one name twice). */
export const SECOND_PLUGIN_FILE = resolve(import.meta.dirname, 'second-array-plugin.ts');

export const FIRST_DRIVER = 'vendor-array';
export const SECOND_DRIVER = 'vendor-array-b';

export type ArrayOptions = Readonly<Record<string, unknown>>;

export function vendorPlugin(options: ArrayOptions = {}): PluginSpecConfig {
  return { module: VENDOR_PLUGIN_DIR, options: { name: FIRST_DRIVER, ...options } };
}

export function secondPlugin(options: ArrayOptions = {}): PluginSpecConfig {
  return { module: SECOND_PLUGIN_FILE, options: { name: SECOND_DRIVER, ...options } };
}

/** A seeded test app with both arrays loaded (`vendor-array` holds the seeded `array-1`). */
export function openTwoArrayApp(first: ArrayOptions = {}, second: ArrayOptions = first): Promise<TestApp> {
  return openTestApp({ plugins: [vendorPlugin(first), secondPlugin(second)] });
}

/** The simulated array behind a registered vendor driver (its `.array`, for faults and inspection). */
export function arrayOf(app: App, driverName: string): SimulatedArray {
  const driver = app.deps.registry.storageDrivers.get(driverName);
  if (driver === undefined) throw new Error(`storage driver ${driverName} is not registered`);
  // Duck-typed: the plugin module is imported by the loader, possibly as another module instance.
  const array = (driver as unknown as { array?: SimulatedArray }).array;
  if (array === undefined) throw new Error(`storage driver ${driverName} is not a vendor array driver`);
  return array;
}

/** Snapshot ids the array holds for each volume, in volume order. */
export function snapshotsOnArray(app: App, driverName: string, volumeIds: readonly string[]): string[][] {
  const array = arrayOf(app, driverName);
  return volumeIds.map((id) => (array.getVolume(id)?.snapshots ?? []).map((s) => s.id));
}

/** The id of a pool by name, or a new pool served by `driver`. */
export async function ensurePool(app: App, name: string, driver: string): Promise<string> {
  const { db } = app.deps;
  const existing = await db
    .selectFrom('storage_pools')
    .select(['id', 'driver'])
    .where('name', '=', name)
    .executeTakeFirst();
  if (existing !== undefined) {
    if (existing.driver !== driver) throw new Error(`pool ${name} is served by ${existing.driver}`);
    return existing.id;
  }
  const { zoneId } = await firstZone(app);
  const id = randomUUID();
  await db
    .insertInto('storage_pools')
    .values({
      id,
      zone_id: zoneId,
      name,
      driver,
      path: `/sim/${name}`,
      host_id: null,
      capacity_bytes: 1024 ** 4,
      created: Date.now(),
      removed: null,
    })
    .execute();
  return id;
}

export interface VmSpec {
  readonly name: string;
  readonly running: boolean;
  /** Pool id per disk, ROOT first. */
  readonly pools: readonly string[];
}

export interface AddedVm {
  readonly id: string;
  readonly instanceName: string;
  readonly hostId: string;
  /** Volume ids in disk order, ROOT first. */
  readonly volumeIds: readonly string[];
}

/** Adds a VM (rows, then CreateVM/StartVM on the simulator) on the zone's first host. */
export async function addVm(app: App, accountId: string, spec: VmSpec): Promise<AddedVm> {
  const { zoneId, hostIds } = await firstZone(app);
  const hostId = hostIds[0];
  if (hostId === undefined) throw new Error('the zone has no hosts');
  const id = randomUUID();
  const instanceName = `i-7-${id.slice(0, 8)}-VM`;
  const now = Date.now();
  const volumes: VolumeTO[] = spec.pools.map((poolId, i) => {
    const volId = randomUUID();
    return {
      id: volId,
      type: i === 0 ? 'ROOT' : 'DATADISK',
      path: `/sim/${poolId}/${volId}.raw`,
      poolId,
      format: 'RAW',
      size: (i === 0 ? 20 : 10) * 1024 ** 3,
      deviceId: i,
    };
  });
  await app.deps.inventory.insertVm(
    {
      id,
      instanceName,
      displayName: spec.name,
      state: spec.running ? 'Running' : 'Stopped',
      hostId: spec.running ? hostId : null,
      lastHostId: hostId,
      accountId,
      zoneId,
      hypervisor: 'Simulator',
      memoryMb: 1024,
      cpus: 1,
      created: now,
    },
    volumes.map((v) => ({ ...v, name: `${v.type}-${spec.name}-${v.deviceId}`, state: 'Ready' as const })),
  );
  const agent = await app.agentFor(hostId);
  const vmSpec = { name: instanceName, uuid: id, memoryMb: 1024, cpus: 1, volumes };
  await agent.execute({ kind: 'CreateVM', vm: vmSpec });
  if (spec.running) await agent.execute({ kind: 'StartVM', vm: vmSpec });
  return { id, instanceName, hostId, volumeIds: volumes.map((v) => v.id) };
}

/** A running VM whose disks alternate over the given drivers' pools (`<driver>-pool`), ROOT first. */
export async function addVmOnDrivers(
  t: TestApp,
  name: string,
  drivers: readonly string[],
  disks = drivers.length,
): Promise<AddedVm> {
  const pools: string[] = [];
  for (let i = 0; i < disks; i++) {
    const driver = drivers[i % drivers.length]!;
    pools.push(await ensurePool(t.app, `${driver}-pool`, driver));
  }
  return addVm(t.app, t.demo.accountId, { name, running: true, pools });
}

export interface Finished {
  readonly snap: StoredVmSnapshot;
  readonly job: AsyncJobRow;
  /** `errortext` of a failed job, '' otherwise. */
  readonly error: string;
}

/** Takes a snapshot through the manager and waits for its job. */
export async function takeSnapshot(
  t: TestApp,
  vmId: string,
  req: Omit<CreateSnapshotRequest, 'vmId'> = {},
): Promise<Finished> {
  const { snapshot, jobId } = await t.app.snapshotManager.create(t.admin, { vmId, ...req });
  return finish(t, snapshot.id, jobId);
}

/** Waits for a job and reads back the snapshot it worked on. */
export async function finish(t: TestApp, snapshotId: string, jobId: string): Promise<Finished> {
  const job = await t.app.deps.jobs.waitFor(jobId, 20_000);
  const snap = await t.app.deps.snapshots.get(snapshotId, true);
  if (snap === undefined) throw new Error(`snapshot ${snapshotId} is gone`);
  return { snap, job, error: jobError(job) };
}

export function jobError(job: AsyncJobRow): string {
  if (job.status !== 'failed' || job.result === null) return '';
  const parsed = JSON.parse(job.result) as { errortext?: unknown };
  return typeof parsed.errortext === 'string' ? parsed.errortext : job.result;
}

/** Polls until `check` returns a value other than undefined, or fails naming `what`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined,
  timeoutMs = EVENTUALLY_TIMEOUT_MS,
  everyMs = 5,
): Promise<T> {
  return eventually(check, what, { timeoutMs, everyMs });
}
