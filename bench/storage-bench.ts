/**
 * `npm run bench:storage` (issue 11): storage-level VM snapshots on real Ceph RBD and real btrfs,
 * 2 and 8 disks each, through the real drivers and the real QEMU host agent (in process, the way
 * test/qemu-rbd/rbd-snapshots.test.ts and test/btrfs/btrfs-qemu.test.ts drive them; the VMs boot the
 * tiny test guest so a guest agent answers the freeze).
 * Per case, medians of `ROUNDS`:
 *  - snap_ms: the driver's whole-VM cut (`takeVmSnapshot`), VM running;
 *  - freeze_ms: the guest freeze window of a quiesced cut, measured as the storage strategy records
 *    it (`freezeWindowMs`): from sending the guest agent's freeze to the thaw's answer, with the
 *    driver's cut in between. The VMs boot the tiny test guest (scripts/build-test-guest.sh), whose
 *    qemu-ga answers the freeze;
 *  - pause_ms: how long QEMU was paused by the unquiesced cut (QEMU's STOP/RESUME event timestamps;
 *    Ceph does not pause QEMU: 0);
 *  - revert_ms: the driver's whole-VM revert (`revertVmSnapshot`), VM stopped;
 *  - per_image_snap_ms: the same VM cut one image at a time (`takeVolumeSnapshot` per disk).
 * The fixtures (scripts/ceph-up.sh, scripts/btrfs-up.sh) are torn down in `finally`, whatever fails.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type {
  DriverVolumeSnapshot,
  StoragePoolInfo,
  StorageSnapshotRef,
  VmSpecTO,
  VolumeInfo,
} from '../src/core/plugin-api.ts';
import { hostNowMs } from '../src/hypervisors/qemu/host-timing.ts';
import { createQemuHostAgent, type QemuHostAgent } from '../src/hypervisors/qemu/qemu-host-agent.ts';
import type { QmpEvent } from '../src/hypervisors/qemu/qmp-client.ts';
import type { BtrfsStorageDriver } from '../src/storage-drivers/btrfs/index.ts';
import { CephRbdDriver } from '../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { openBtrfsHost } from '../test/btrfs/btrfs-host.ts';
import { startCeph } from '../test/helpers/ceph.ts';
import { scratchDir, writePattern } from '../test/qemu/helpers.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DISKS = [2, 8] as const;
const MIB = 1024 * 1024;
/** The tiny guest's kernel needs more than an OS-less VM. */
const GUEST_MEMORY_MB = 128;
/** The guest agent's freeze budget: the agent's watchdog thaws after it, should a round fail. */
const FREEZE_BUDGET_MS = 10_000;
/** How long the tiny guest may take to boot on TCG under load before qemu-ga answers. */
const GUEST_BOOT_TIMEOUT_MS = 300_000;
const REPO = path.resolve(import.meta.dirname, '..');

type Driver = CephRbdDriver | BtrfsStorageDriver;

interface Case {
  readonly backend: 'ceph-rbd' | 'btrfs';
  readonly disks: number;
  readonly snapMs: number;
  readonly freezeMs: number;
  readonly pauseMs: number;
  readonly revertMs: number;
  readonly perImageSnapMs: number;
}

/** A VM on the backend, as the agent created it, plus how snapshot refs name it. */
interface BenchVm {
  readonly spec: VmSpecTO;
  readonly volumes: VolumeInfo[];
  readonly refVmId: string;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = hostNowMs();
  const value = await fn();
  return { value, ms: round(hostNowMs() - start) };
}

/** Total STOP -> RESUME time in the events (QEMU's own timestamps). */
function pausedMs(events: readonly QmpEvent[]): number {
  let total = 0;
  let stoppedAt: number | null = null;
  for (const e of events) {
    if (e.event === 'STOP') stoppedAt = e.qemuMs;
    if (e.event === 'RESUME' && stoppedAt !== null) {
      total += e.qemuMs - stoppedAt;
      stoppedAt = null;
    }
  }
  return round(total);
}

async function ok(answer: Promise<{ result: boolean; details?: string }>): Promise<void> {
  const a = await answer;
  if (!a.result) throw new Error(a.details ?? 'agent command failed');
}

/** The tiny test guest with qemu-ga (built once and cached by the script, which takes a lock). */
function tinyGuest(): { kernel: string; initrd: string } {
  execFileSync(path.join(REPO, 'scripts/build-test-guest.sh'), { stdio: 'ignore', timeout: 900_000 });
  const cache = path.join(REPO, '.guest-cache');
  return { kernel: path.join(cache, 'vmlinuz'), initrd: path.join(cache, 'initrd.gz') };
}

/** Waits, bounded in time, until the guest's qemu-ga answers. */
async function guestAgentUp(agent: QemuHostAgent, vmName: string): Promise<void> {
  const deadline = Date.now() + GUEST_BOOT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const ping = await agent.execute({ kind: 'GuestPing', vmName });
    if (ping.result && ping.available) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`qemu-ga of ${vmName} did not answer within ${GUEST_BOOT_TIMEOUT_MS} ms`);
}

/** A quiesced cut as the storage strategy makes it: freeze, the driver's cut, thaw; the window. */
async function frozenCut(
  agent: QemuHostAgent,
  driver: Driver,
  vm: BenchVm,
  ref: StorageSnapshotRef,
): Promise<number> {
  const vmName = vm.spec.name;
  const sentAt = hostNowMs();
  const frozen = await agent.execute({
    kind: 'FreezeThaw',
    vmName,
    option: 'freeze',
    budgetMs: FREEZE_BUDGET_MS,
  });
  if (!frozen.result || frozen.status !== 'frozen') throw new Error(`freeze of ${vmName} failed`);
  try {
    await driver.takeVmSnapshot(vm.volumes, ref);
  } finally {
    await ok(agent.execute({ kind: 'FreezeThaw', vmName, option: 'thaw' }));
  }
  return round(hostNowMs() - sentAt);
}

/** Runs the rounds on one started VM, then reverts it (stopped) `ROUNDS` times and destroys it. */
async function measure(
  agent: QemuHostAgent,
  driver: Driver,
  backend: Case['backend'],
  vm: BenchVm,
): Promise<Case> {
  const ref = (): StorageSnapshotRef => ({ id: randomUUID(), name: 'bench', vmId: vm.refVmId });
  await ok(agent.execute({ kind: 'StartVM', vm: vm.spec }));
  const qmp = agent.runningVm(vm.spec.name)!.qmp;
  for (const v of vm.volumes) await writePattern(qmp, v.deviceId, 0x5a, '0', '1M');
  await guestAgentUp(agent, vm.spec.name);
  const snap: number[] = [];
  const freeze: number[] = [];
  const pause: number[] = [];
  const perImage: number[] = [];
  let first: readonly DriverVolumeSnapshot[] | null = null;
  for (let i = 0; i < ROUNDS; i++) {
    const since = qmp.mark();
    const { value, ms } = await timed(() => driver.takeVmSnapshot(vm.volumes, ref()));
    snap.push(ms);
    pause.push(pausedMs(qmp.eventsSince(since)));
    first ??= value.volumes;
    freeze.push(await frozenCut(agent, driver, vm, ref()));
    const one = ref();
    perImage.push(
      (
        await timed(async () => {
          for (const v of vm.volumes) await driver.takeVolumeSnapshot(v, one);
        })
      ).ms,
    );
  }
  await ok(agent.execute({ kind: 'StopVM', vmName: vm.spec.name, force: false }));
  const revert: number[] = [];
  for (let i = 0; i < ROUNDS; i++)
    revert.push((await timed(() => driver.revertVmSnapshot(vm.volumes, first!))).ms);
  await ok(agent.execute({ kind: 'DestroyVM', vmName: vm.spec.name }));
  return {
    backend,
    disks: vm.volumes.length,
    snapMs: median(snap),
    freezeMs: median(freeze),
    pauseMs: median(pause),
    revertMs: median(revert),
    perImageSnapMs: median(perImage),
  };
}

async function cephCases(): Promise<Case[]> {
  const ceph = startCeph('bench');
  const scratch = scratchDir('storage-bench');
  let agent: QemuHostAgent | null = null;
  try {
    agent = await createQemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir: path.join(scratch.dir, 'pool'),
      accel: 'tcg',
      guestBoot: tinyGuest(),
    });
    const driver = new CephRbdDriver();
    const url = ceph.url();
    const pool: StoragePoolInfo = {
      id: 'ceph1',
      name: 'ceph1',
      zoneId: 'zone-1',
      provider: 'ceph-rbd',
      url,
      details: {},
      scope: 'ZONE',
      hostId: null,
      path: ceph.pool,
    };
    const cases: Case[] = [];
    for (const disks of DISKS) {
      const spec: VmSpecTO = {
        name: `rbdbench${disks}`,
        uuid: randomUUID(),
        memoryMb: GUEST_MEMORY_MB,
        cpus: 1,
        volumes: Array.from({ length: disks }, (_, i) => ({
          id: randomUUID(),
          type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
          path: '',
          poolId: pool.id,
          format: 'RAW' as const,
          size: 8 * MIB,
          deviceId: i,
          pool: { provider: 'ceph-rbd', url, path: ceph.pool },
        })),
      };
      const created = await agent.execute({ kind: 'CreateVM', vm: spec });
      if (!created.result) throw new Error(created.details);
      const volumes: VolumeInfo[] = spec.volumes.map((v, i) => ({
        id: v.id,
        name: `disk${i}`,
        type: v.type,
        poolId: pool.id,
        driver: 'ceph-rbd',
        format: 'RAW',
        path: created.volumes[i]!.path,
        size: v.size,
        deviceId: v.deviceId,
        pool,
      }));
      // The driver names the consistency group after the VM's id, as the strategies pass it.
      cases.push(await measure(agent, driver, 'ceph-rbd', { spec, volumes, refVmId: spec.uuid }));
    }
    return cases;
  } finally {
    await agent?.stopAll();
    ceph.down();
    scratch.cleanup();
  }
}

async function btrfsCases(): Promise<Case[]> {
  const host = await openBtrfsHost('bench', { guestBoot: tinyGuest(), memoryMb: GUEST_MEMORY_MB });
  try {
    const cases: Case[] = [];
    for (const disks of DISKS) {
      const { spec, volumes } = await host.createVm(`btrfsbench${disks}`, disks, 16);
      // One subvolume per VM, named after the instance: the btrfs refs carry the VM's name.
      cases.push(await measure(host.agent, host.driver, 'btrfs', { spec, volumes, refVmId: spec.name }));
    }
    return cases;
  } finally {
    await host.close();
  }
}

async function main(): Promise<void> {
  const cases = [...(await cephCases()), ...(await btrfsCases())];
  console.log(`storage snapshots, tiny guest with qemu-ga, medians of ${ROUNDS}`);
  for (const c of cases) {
    console.log(
      `bench:storage backend=${c.backend} disks=${c.disks} snap_ms=${c.snapMs} freeze_ms=${c.freezeMs} ` +
        `pause_ms=${c.pauseMs} revert_ms=${c.revertMs} per_image_snap_ms=${c.perImageSnapMs}`,
    );
  }
}

await main();
