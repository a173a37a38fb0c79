/**
 * A management server in a child process, for the Ceph crash tests: opens the App on a data dir that
 * already knows the KVM host, the Ceph pool and a VM on it, and takes a disk-only snapshot of the VM
 * (the storage strategy: one `rbd group snap create`). The ceph-rbd driver's group take is wrapped so
 * the server stops at a named point and says so; the test SIGKILLs it there:
 *  - `before`: the take is never started: the snapshot is Creating, nothing is on Ceph;
 *  - `after`: the group snapshot is made on Ceph, and its answer is never handed back (the take
 *    never reaches Ready).
 * The wrap lives here, in the test's child, so the server's code has no test-only pause point.
 *
 *   node --import tsx test/qemu-rbd/rbd-crash-server.ts <dataDir> <vmId> <snapshotName> <before|after>
 *
 * stdout lines: `OPEN`, `SUBMITTED <snapshotId> <jobId>`, `HELD before`,
 * `HELD after <volumeId>=<ref> ...`, and (never expected) `DONE <jobId> <status>`.
 */
import type { DriverTakeResult, StorageSnapshotRef, VolumeInfo } from '../../src/core/plugin-api.ts';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { CEPH_RBD_DRIVER } from '../../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { quietLog } from '../helpers/test-app.ts';

export type CrashPoint = 'before' | 'after';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Never settles: the server stays at the held point until it is killed. */
const forever = (): Promise<never> => new Promise<never>(() => {});

function holdGroupTake(app: App, point: CrashPoint): void {
  const driver = app.deps.registry.storageDrivers.get(CEPH_RBD_DRIVER);
  const take = driver?.takeVmSnapshot?.bind(driver);
  if (driver === undefined || take === undefined) throw new Error('the ceph-rbd driver is not loaded');
  driver.takeVmSnapshot = async (
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<DriverTakeResult> => {
    if (point === 'before') {
      say('HELD before');
      return forever();
    }
    const taken = await take(volumes, snapshot);
    say(`HELD after ${taken.volumes.map((v) => `${v.volumeId}=${v.ref}`).join(' ')}`);
    return forever();
  };
}

async function main(): Promise<void> {
  const [dir, vmId, name, point] = process.argv.slice(2);
  if (
    dir === undefined ||
    vmId === undefined ||
    name === undefined ||
    (point !== 'before' && point !== 'after')
  )
    throw new Error('usage: rbd-crash-server.ts <dataDir> <vmId> <snapshotName> <before|after>');
  const app = await App.open({ config: loadConfig(dir, { plugins: [] }), log: quietLog });
  holdGroupTake(app, point);
  await app.start();
  say('OPEN');
  const system = await app.systemCaller();
  if (system === undefined) throw new Error('no admin user: was the data dir seeded?');
  const { snapshot, jobId } = await app.snapshotManager.create(system, { vmId, name, quiesce: false });
  say(`SUBMITTED ${snapshot.id} ${jobId}`);
  const row = await app.deps.jobs.waitFor(jobId, 600_000);
  say(`DONE ${jobId} ${row.status}`);
  await app.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `rbd-crash-server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
