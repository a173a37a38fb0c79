/**
 * # Memory snapshots of VMs on RBD: disks and RAM cut at one instant
 *
 * CloudStack cannot snapshot the memory of a VM on RBD (its issue 13159). Here the agent does what
 * it does for file disks (`memory-snapshot.ts` `saveLive`), with the disk cut made on Ceph:
 * `stop` -> `rbd group snap create` of the VM's group (all its images in one consistency group)
 * -> background-snapshot migration of RAM to `<pool dir>/<vm>-<snap>.vmstate`, which QEMU resumes
 * from once the RAM is write-protected. Nothing runs between the cut and the RAM save start, so
 * disks and RAM are from the same instant; the pause is about the group snapshot's 0.1-0.2 s.
 *
 * Why on the agent, not as a storage-strategy step: the instant is held by QEMU's `stop`, which only
 * the host can give and take back without a network round trip in the pause, and a management server
 * that died between a remote `stop` and `cont` would leave the guest paused. The group and snapshot
 * names are the `ceph-rbd` driver's (`src/core/rbd-snapshot-ref.ts`): one group per VM, shared by the storage
 * strategy's disk-only snapshots and these, so a rollback to either is the same `rbd group snap
 * rollback`.
 *
 * Revert: QEMU is stopped first (librbd would roll back under a running QEMU without a word, which
 * then serves stale data), the group rolled back, and a fresh QEMU loads the RAM and runs.
 */
import { rm } from 'node:fs/promises';
import type { HostTimings } from '../../core/plugin-api.ts';
import { groupNameOf, snapNameOf } from '../../core/rbd-snapshot-ref.ts';
import type { AgentContext } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { SnapshotRecord, VmRecord } from './agent-state.ts';
import { hostNowMs, pauseFromEvents, round } from './host-timing.ts';
import { createPrivateFile } from './private-files.ts';
import { cancelMigration, prepareBackgroundSave, shellQuote, waitMigration } from './ram-save.ts';
import { RbdCliError, rbdCli, type RbdDisk } from './rbd-disk.ts';
import type { RunningVm } from './vm-process.ts';

const GIB = 1024 * 1024 * 1024;
const EEXIST = 17;
const ENOENT = 2;

/** A group snapshot of the VM's images: where it lives and its names. */
export interface RbdGroupSnap {
  readonly group: string;
  readonly snap: string;
}

/** The VM's RBD disks, all on one Ceph pool (one group per VM and pool). */
function rbdDisksOf(vm: VmRecord): RbdDisk[] {
  const disks = vm.disks.flatMap((d) => (d.rbd ? [d.rbd] : []));
  if (disks.length !== vm.disks.length) fail(`VM ${vm.name} mixes RBD images and files`);
  const first = disks[0] ?? fail(`VM ${vm.name} has no RBD disk`);
  const sameCluster = (d: RbdDisk): boolean =>
    d.pool === first.pool &&
    d.user === first.user &&
    d.key === first.key &&
    JSON.stringify(d.monitors) === JSON.stringify(first.monitors);
  if (!disks.every(sameCluster)) fail(`VM ${vm.name} has RBD images on more than one pool`);
  return disks;
}

/** Makes the VM's group exist and hold its images (as the driver's first disk snapshot would). */
async function ensureGroup(ctx: AgentContext, disks: readonly RbdDisk[], group: string): Promise<void> {
  const conn = disks[0]!;
  const spec = `${conn.pool}/${group}`;
  await rbdCli(conn, ctx.runDir, ['group', 'create', spec]).catch((error: unknown) => {
    if (!(error instanceof RbdCliError && error.exitCode === EEXIST)) throw error;
  });
  const members = JSON.parse(
    await rbdCli(conn, ctx.runDir, ['group', 'image', 'ls', '--format', 'json', spec]),
  ) as { image: string }[];
  for (const disk of disks) {
    if (!members.some((m) => m.image === disk.image))
      await rbdCli(conn, ctx.runDir, ['group', 'image', 'add', spec, `${conn.pool}/${disk.image}`]);
  }
}

/** Take: stop -> group snapshot -> RAM save; QEMU resumes the VM once its RAM is write-protected. */
export async function saveRbdLive(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  running: RunningVm,
): Promise<HostTimings> {
  const disks = rbdDisksOf(vm);
  const conn = disks[0]!;
  const cut: RbdGroupSnap = { group: groupNameOf(vm.uuid), snap: snapNameOf(record.id) };
  const qmp = running.qmp;
  await createPrivateFile(record.vmstate!);
  await prepareBackgroundSave(qmp, ctx.options.saveBandwidthBytes ?? 8 * GIB);
  await ensureGroup(ctx, disks, cut.group);
  record.rbdGroupSnap = cut;
  await ctx.step(vm, 'cutting');
  const since = qmp.mark();
  const phases = { stopped: 0, cut: 0 };
  try {
    await qmp.execute('stop');
    phases.stopped = hostNowMs();
    await ctx.transientStep(vm, 'stopped');
    await rbdCli(conn, ctx.runDir, ['group', 'snap', 'create', `${conn.pool}/${cut.group}@${cut.snap}`]);
    phases.cut = hostNowMs();
    await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(record.vmstate!)}` });
  } catch (error) {
    // Nothing saved: the guest runs on, and the rollback removes the group snapshot if it was made.
    if ((await running.status()) !== 'running') await qmp.execute('cont');
    throw error;
  }
  await ctx.step(vm, 'saving');
  const end = await waitMigration(qmp, since, 10 * 60_000);
  if (end !== 'completed') fail(`RAM save ${end}`);
  await qmp
    .waitEvent((e) => e.event === 'RESUME', 2000, since)
    .catch(async () => {
      if ((await running.status()) !== 'running') await qmp.execute('cont');
    });
  record.disks = vm.disks.map((d) => ({
    volumeId: d.volumeId,
    deviceId: d.deviceId,
    image: `${cut.group}@${cut.snap}/${d.active}`,
  }));
  await ctx.step(vm, 'saved');
  record.note = `pause ${pauseFromEvents(qmp, since)} ms: RBD group snapshot ${round(phases.cut - phases.stopped)} ms`;
  return { pauseMs: pauseFromEvents(qmp, since), freezeMs: 0 };
}

/** Removes the snapshot's group snapshot (gone already counts as removed) and its RAM file. */
export async function removeRbdSnapshot(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
): Promise<void> {
  const cut = record.rbdGroupSnap;
  if (cut) {
    const conn = rbdDisksOf(vm)[0]!;
    await rbdCli(conn, ctx.runDir, ['group', 'snap', 'rm', `${conn.pool}/${cut.group}@${cut.snap}`]).catch(
      (error: unknown) => {
        if (!(error instanceof RbdCliError && error.exitCode === ENOENT)) throw error;
      },
    );
  }
  if (record.vmstate) await rm(record.vmstate, { force: true });
}

/** Revert: QEMU stopped, the group rolled back; the caller then loads the RAM into a new QEMU. */
export async function rollbackRbdGroup(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
): Promise<void> {
  const cut = record.rbdGroupSnap ?? fail(`snapshot ${record.name} has no RBD group snapshot`);
  const conn = rbdDisksOf(vm)[0]!;
  await ctx.halt(vm.name);
  await rbdCli(conn, ctx.runDir, [
    'group',
    'snap',
    'rollback',
    '--no-progress',
    `${conn.pool}/${cut.group}@${cut.snap}`,
  ]);
}

/** Destroy: the VM's group (with its snapshots), then any image snapshots, then the images. */
export async function removeRbdImages(ctx: AgentContext, vm: VmRecord): Promise<void> {
  const disks = vm.disks.flatMap((d) => (d.rbd ? [d.rbd] : []));
  const conn = disks[0];
  if (!conn) return;
  const ignoreMissing = (error: unknown): void => {
    if (!(error instanceof RbdCliError && error.exitCode === ENOENT)) throw error;
  };
  await rbdCli(conn, ctx.runDir, ['group', 'rm', `${conn.pool}/${groupNameOf(vm.uuid)}`]).catch(
    ignoreMissing,
  );
  for (const disk of disks) {
    const image = `${disk.pool}/${disk.image}`;
    await rbdCli(disk, ctx.runDir, ['snap', 'purge', '--no-progress', image]).catch(ignoreMissing);
    await rbdCli(disk, ctx.runDir, ['rm', '--no-progress', image]).catch(ignoreMissing);
  }
}

/**
 * A failed take: a RAM save in flight is let end, the guest runs, the group snapshot and the RAM
 * file go, the snapshot ends in Error.
 */
export async function rollbackRbdCreate(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  cause: unknown,
): Promise<void> {
  ctx.log.warn(
    { vm: vm.name, snapshot: record.name, err: cause },
    'RBD memory snapshot failed: rolling back',
  );
  const running = ctx.running.get(vm.name);
  try {
    if (running) {
      await cancelMigration(running.qmp);
      if ((await running.status()) !== 'running') await running.qmp.execute('cont');
    } else if (vm.pending?.wasRunning) {
      await ctx.launch(vm, false);
    }
    await removeRbdSnapshot(ctx, vm, record);
  } catch (error) {
    ctx.log.error({ vm: vm.name, err: error }, 'rollback incomplete');
  }
  record.state = 'Error';
  record.disks = [];
  record.error = cause instanceof Error ? cause.message : String(cause);
  vm.pending = null;
  await ctx.store.save();
}
