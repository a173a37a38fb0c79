/**
 * # Reverting a VM to a snapshot
 *
 * Any snapshot of the tree can be the target (not a Hidden one: it was deleted).
 * - Disk snapshot: the VM ends stopped on new overlays over the snapshot-time disks (`branchFrom`).
 * - Memory, `live`: fresh QEMU with the same machine/RAM layout, `-incoming defer`,
 *   `migrate-incoming` from the `.vmstate` file, on new overlays over the snapshot-time disks; ends
 *   running.
 * - Memory, `internal`: `snapshot-load` (+ `cont` if a failed load left the VM paused).
 *
 * A completed revert makes the target current and records the request id, which CheckVMSnapshot
 * answers as `revertApplied` (`snapshot-check.ts`).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { CommandOf, HostTimings } from '../../core/plugin-api.ts';
import { volumeAnswer, type AgentContext, type Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { DiskRecord, SnapshotRecord, VmRecord } from './agent-state.ts';
import { topNodes, qmpJobId } from './live-block.ts';
import * as img from './qemu-img.ts';
import { rollbackRbdGroup } from './rbd-memory-snapshot.ts';
import { hostNowMs, pauseFromEvents, round } from './host-timing.ts';
import { shellQuote, waitMigration } from './ram-save.ts';

/** A completed revert makes the target the snapshot the VM runs from (CheckVMSnapshot `current`). */
export async function revertSnapshot(
  ctx: AgentContext,
  command: CommandOf<'RevertToVMSnapshot'>,
): Answer<'RevertToVMSnapshot'> {
  const answer = await revertTo(ctx, command);
  const vm = ctx.store.vm(command.vmName);
  if (answer.result && vm) {
    vm.currentSnapshot = command.target.name;
    vm.lastRevertRequest = command.requestId ?? null;
    await ctx.store.save();
  }
  return answer;
}

function requireSnapshot(vm: VmRecord, name: string): SnapshotRecord {
  const snap = vm.snapshots.find((s) => s.name === name);
  if (!snap || (snap.state !== 'Ready' && snap.state !== 'Hidden'))
    fail(`snapshot ${name} of VM ${vm.name} is not available`);
  return snap;
}

async function revertTo(
  ctx: AgentContext,
  command: CommandOf<'RevertToVMSnapshot'>,
): Answer<'RevertToVMSnapshot'> {
  const vm = ctx.requireVm(command.vmName);
  const snap = requireSnapshot(vm, command.target.name);
  if (snap.state === 'Hidden') fail(`snapshot ${snap.name} was deleted (kept hidden for its children)`);
  const started = hostNowMs();
  if (snap.mode === 'internal') {
    const timings = await revertInternal(ctx, vm, snap);
    return {
      result: true,
      volumes: vm.disks.map(volumeAnswer),
      powerState: 'PowerOn',
      timings: { ...timings, totalMs: round(hostNowMs() - started) },
    };
  }
  if (snap.rbdGroupSnap) {
    // Disks on Ceph: QEMU stopped, the group rolled back, a new QEMU loads the RAM.
    await rollbackRbdGroup(ctx, vm, snap);
    await loadLiveState(ctx, vm, snap);
    return {
      result: true,
      volumes: vm.disks.map(volumeAnswer),
      powerState: 'PowerOn',
      timings: { totalMs: round(hostNowMs() - started) },
    };
  }
  await ctx.halt(vm.name);
  await branchFrom(ctx, vm, snap);
  if (snap.mode === 'external') {
    return {
      result: true,
      volumes: vm.disks.map(volumeAnswer),
      powerState: 'PowerOff',
      timings: { totalMs: round(hostNowMs() - started) },
    };
  }
  await loadLiveState(ctx, vm, snap);
  return {
    result: true,
    volumes: vm.disks.map(volumeAnswer),
    powerState: 'PowerOn',
    timings: { totalMs: round(hostNowMs() - started) },
  };
}

/** Starts the VM waiting for its RAM, feeds it the snapshot's `.vmstate` file, and lets it run. */
async function loadLiveState(ctx: AgentContext, vm: VmRecord, snap: SnapshotRecord): Promise<void> {
  const running = await ctx.launch(vm, true);
  const qmp = running.qmp;
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  const since = qmp.mark();
  await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(snap.vmstate!)}` });
  const end = await waitMigration(qmp, since, 10 * 60_000);
  if (end !== 'completed') {
    await ctx.halt(vm.name);
    fail(`loading the RAM state of ${snap.name} ${end}`);
  }
  // The state was saved from a stopped VM (stop -> cut -> save), so it loads paused.
  if ((await running.status()) !== 'running') await qmp.execute('cont');
}

/** New overlays over the snapshot's images become the active disks; the old tops go if nothing needs them. */
async function branchFrom(ctx: AgentContext, vm: VmRecord, snap: SnapshotRecord): Promise<void> {
  const suffix = randomBytes(3).toString('hex');
  const newFiles = snap.disks.map((d) => ({
    deviceId: d.deviceId,
    file: path.join(vm.poolDir, `${vm.name}-vd${d.deviceId}-r${suffix}.qcow2`),
    node: `r${d.deviceId}-${suffix}`,
  }));
  vm.pending = {
    op: 'revert',
    snapshot: snap.name,
    step: 'branching',
    wasRunning: false,
    newFiles,
    vmstate: null,
  };
  await ctx.store.save();
  for (const f of newFiles) {
    const image = snap.disks.find((d) => d.deviceId === f.deviceId)!.image;
    await img.createOverlay(f.file, image);
  }
  for (const f of newFiles) {
    const disk = vm.disks.find((d) => d.deviceId === f.deviceId)!;
    const old = disk.active;
    disk.backing[f.file] = snap.disks.find((d) => d.deviceId === f.deviceId)!.image;
    disk.active = f.file;
    if (!isSnapshotImage(vm, old) && !hasChildren(disk, old)) {
      delete disk.backing[old];
      await rm(old, { force: true });
    }
  }
  vm.pending = null;
  await ctx.store.save();
}

function isSnapshotImage(vm: VmRecord, file: string): boolean {
  return vm.snapshots.some((s) => s.state !== 'Error' && s.disks.some((d) => d.image === file));
}

function hasChildren(disk: DiskRecord, file: string): boolean {
  return Object.values(disk.backing).includes(file);
}

async function revertInternal(ctx: AgentContext, vm: VmRecord, snap: SnapshotRecord): Promise<HostTimings> {
  const running = ctx.running.get(vm.name) ?? (await ctx.launch(vm, false));
  const qmp = running.qmp;
  const tops = await topNodes(qmp);
  const devices = vm.disks.map(
    (d) => tops.get(d.deviceId)?.node ?? fail(`disk vd${d.deviceId} not attached`),
  );
  const since = qmp.mark();
  const jobId = qmpJobId('load');
  try {
    await qmp.runJob(jobId, () =>
      qmp.execute('snapshot-load', { 'job-id': jobId, tag: snap.name, vmstate: devices[0], devices }),
    );
  } finally {
    // A failed snapshot-load leaves the VM paused in runstate restore-vm (STOP with no RESUME: QEMU 7.2).
    if ((await running.status()) !== 'running') await qmp.execute('cont');
  }
  return { pauseMs: pauseFromEvents(qmp, since) };
}
