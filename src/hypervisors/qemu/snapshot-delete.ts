/**
 * # Deleting a snapshot
 *
 * - Internal: `snapshot-delete` job on the running VM, or `qemu-img snapshot -d` when it is stopped.
 * - External: the snapshot image of each disk is merged with its only child (the child's data
 *   wins): block-commit live when the running VM uses the chain, `qemu-img commit` + `rebase -u`
 *   offline. An image with several children is kept and the snapshot answered `hidden: true`; it is
 *   merged by the first delete after a delete or revert left it a single child (`collectHidden`);
 *   the manager then sees it gone (CheckVMSnapshot) and removes its row.
 * - A merge that fails leaves no operation pending (each chain stays usable: a failed commit leaves
 *   the child holding all its data) and keeps the disks not yet merged on the snapshot, so the VM
 *   takes snapshots again at once and a retried delete merges the rest, Hidden ones included.
 *
 * Deleting an unknown snapshot succeeds (idempotent). As CloudStack: deleting the current snapshot
 * makes its parent current.
 */
import { rm } from 'node:fs/promises';
import type { CommandOf } from '../../core/plugin-api.ts';
import { volumeAnswer, type AgentContext, type Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { DiskRecord, SnapshotDisk, SnapshotRecord, VmRecord } from './agent-state.ts';
import { commitLive, nodeForFile, topNodes, qmpJobId } from './live-block.ts';
import * as img from './qemu-img.ts';
import { removeRbdSnapshot } from './rbd-memory-snapshot.ts';

/** As CloudStack: deleting the current snapshot makes its parent current. */
export async function deleteSnapshot(
  ctx: AgentContext,
  command: CommandOf<'DeleteVMSnapshot'>,
): Answer<'DeleteVMSnapshot'> {
  const vm = ctx.store.vm(command.vmName);
  const parent = vm?.snapshots.find((s) => s.name === command.target.name)?.parent ?? null;
  const answer = await deleteFrom(ctx, command);
  if (answer.result && vm && vm.currentSnapshot === command.target.name) {
    vm.currentSnapshot = parent;
    await ctx.store.save();
  }
  return answer;
}

async function deleteFrom(
  ctx: AgentContext,
  command: CommandOf<'DeleteVMSnapshot'>,
): Answer<'DeleteVMSnapshot'> {
  const vm = ctx.requireVm(command.vmName);
  const snap = vm.snapshots.find((s) => s.name === command.target.name);
  if (snap?.rbdGroupSnap || (snap && vm.disks.some((d) => d.rbd))) {
    // Disks on Ceph: the group snapshot and the RAM file go; no chain to merge.
    await removeRbdSnapshot(ctx, vm, snap);
    vm.snapshots = vm.snapshots.filter((s) => s !== snap);
    await ctx.store.save();
    return { result: true, volumes: vm.disks.map(volumeAnswer) };
  }
  let hidden = false;
  if (snap?.mode === 'internal' && snap.state !== 'Error' && snap.disks.length > 0) {
    await deleteInternal(ctx, vm, snap);
    return { result: true, volumes: vm.disks.map(volumeAnswer) };
  }
  if (snap && (snap.state === 'Error' || snap.disks.length === 0)) {
    vm.snapshots = vm.snapshots.filter((s) => s !== snap);
    await ctx.store.save();
  } else if (snap) {
    if (snap.vmstate) await rm(snap.vmstate, { force: true });
    snap.vmstate = null;
    hidden = await mergeExternal(ctx, vm, snap);
  }
  // Also when the snapshot is already gone (idempotent): a retried delete whose Hidden merge failed
  // the first time finishes that merge here.
  await collectHidden(ctx, vm);
  return { result: true, volumes: vm.disks.map(volumeAnswer), ...(hidden ? { hidden: true } : {}) };
}

async function deleteInternal(ctx: AgentContext, vm: VmRecord, snap: SnapshotRecord): Promise<void> {
  const running = ctx.running.get(vm.name);
  if (running) {
    const tops = await topNodes(running.qmp);
    const devices = vm.disks.map(
      (d) => tops.get(d.deviceId)?.node ?? fail(`disk vd${d.deviceId} not attached`),
    );
    const jobId = qmpJobId('del');
    await running.qmp.runJob(jobId, () =>
      running.qmp.execute('snapshot-delete', { 'job-id': jobId, tag: snap.name, devices }),
    );
  } else {
    for (const disk of vm.disks) {
      const tags = await img.snapshotList(disk.active);
      if (tags.some((t) => t.name === snap.name)) await img.snapshotDelete(disk.active, snap.name);
    }
  }
  vm.snapshots = vm.snapshots.filter((s) => s !== snap);
  await ctx.store.save();
}

/**
 * Merges the snapshot's image of each disk with its only child (the child's data wins). Several
 * children: the snapshot is kept Hidden. Returns true when hidden.
 */
async function mergeExternal(ctx: AgentContext, vm: VmRecord, snap: SnapshotRecord): Promise<boolean> {
  const blocked = snap.disks.some((d) => {
    const disk = vm.disks.find((x) => x.deviceId === d.deviceId);
    return disk !== undefined && childrenOf(disk, d.image).length > 1;
  });
  if (blocked) {
    snap.state = 'Hidden';
    await ctx.store.save();
    return true;
  }
  vm.pending = {
    op: 'delete',
    snapshot: snap.name,
    step: 'merging',
    wasRunning: ctx.running.has(vm.name),
    newFiles: [],
    vmstate: null,
  };
  try {
    await ctx.step(vm, 'merging');
    for (const d of [...snap.disks]) {
      await mergeDisk(ctx, vm, snap, d);
      // Persisted per disk: a retry after a failure merges only the disks left, never one twice
      // (a merged disk's image now holds its child's data, and its child is the next snapshot's).
      snap.disks = snap.disks.filter((x) => x !== d);
      await ctx.store.save();
    }
  } finally {
    // A failed commit leaves its chain usable (the child still holds all its data), so the VM is
    // not blocked: the snapshot keeps the disks left to merge, and a retried delete merges them.
    vm.pending = null;
    await ctx.store.save();
  }
  vm.snapshots = vm.snapshots.filter((s) => s !== snap);
  await ctx.store.save();
  return false;
}

/** Merges one disk's snapshot image with its only child, or drops it when nothing builds on it. */
async function mergeDisk(
  ctx: AgentContext,
  vm: VmRecord,
  snap: SnapshotRecord,
  d: SnapshotDisk,
): Promise<void> {
  const disk = vm.disks.find((x) => x.deviceId === d.deviceId);
  if (!disk) return;
  const image = d.image;
  const [child] = childrenOf(disk, image);
  if (child === undefined) {
    // Nothing builds on it any more (its branch was reverted away): the file just goes.
    if (disk.backing[image] !== undefined && !otherSnapshotUses(vm, snap, image)) {
      delete disk.backing[image];
      await rm(image, { force: true });
    }
    return;
  }
  await commitChild(ctx, vm, disk, child, image);
  // Whatever referred to the child now refers to the image, which holds the child's view.
  for (const other of vm.snapshots) for (const od of other.disks) if (od.image === child) od.image = image;
}

function childrenOf(disk: DiskRecord, file: string): string[] {
  return Object.entries(disk.backing)
    .filter(([, backing]) => backing === file)
    .map(([child]) => child);
}

function otherSnapshotUses(vm: VmRecord, snap: SnapshotRecord, file: string): boolean {
  return vm.snapshots.some((s) => s !== snap && s.state !== 'Error' && s.disks.some((d) => d.image === file));
}

/** Commits `child` into `image` (live when the running VM uses the chain), then removes `child`. */
async function commitChild(
  ctx: AgentContext,
  vm: VmRecord,
  disk: DiskRecord,
  child: string,
  image: string,
): Promise<void> {
  const running = ctx.running.get(vm.name);
  const grandchildren = Object.entries(disk.backing)
    .filter(([, backing]) => backing === child)
    .map(([file]) => file);
  const childNode = running ? await nodeForFile(running.qmp, child) : null;
  const imageNode = running ? await nodeForFile(running.qmp, image) : null;
  if (running && childNode && imageNode) {
    const top =
      (await topNodes(running.qmp)).get(disk.deviceId) ?? fail(`disk vd${disk.deviceId} not attached`);
    await commitLive(running.qmp, top.node, childNode, imageNode);
  } else {
    await img.commit(child);
    for (const gc of grandchildren) await img.rebase(gc, image, true);
  }
  for (const gc of grandchildren) disk.backing[gc] = image;
  if (disk.active === child) disk.active = image;
  delete disk.backing[child];
  await ctx.store.save();
  await rm(child, { force: true });
}

/**
 * Hidden snapshots whose images are down to one child can now be merged. A failed merge fails the
 * delete that ran it (the snapshot stays Hidden, the VM is not blocked); retrying finishes it.
 */
async function collectHidden(ctx: AgentContext, vm: VmRecord): Promise<void> {
  for (const snap of vm.snapshots.filter((s) => s.state === 'Hidden')) {
    if (snap.disks.length === 0) {
      vm.snapshots = vm.snapshots.filter((s) => s !== snap);
      await ctx.store.save();
    } else await mergeExternal(ctx, vm, snap);
  }
}
