/**
 * # CheckVMSnapshot: what a recovering management server asks
 *
 * Answers whether the snapshot exists (usable, with every file and internal tag it needs), the
 * disks' active files, the power state, and `current`: the last completed create or revert was this
 * snapshot (deleting it makes its parent current). With a `revertRequestId`, `revertApplied` says
 * whether that revert finished here.
 */
import { existsSync } from 'node:fs';
import type { CommandOf } from '../../core/plugin-api.ts';
import { volumeAnswer, type AgentContext, type Answer } from './agent-context.ts';
import type { VmRecord } from './agent-state.ts';
import * as img from './qemu-img.ts';

/**
 * Recovery: does the snapshot exist, and what does the VM look like now? `volumes` are the disks'
 * active files (a create a crash cut off ends on them), `current` says the last completed create or
 * revert was this snapshot (a revert a crash cut off did finish), `powerState` is the VM's now.
 */
export async function checkSnapshot(
  ctx: AgentContext,
  command: CommandOf<'CheckVMSnapshot'>,
): Answer<'CheckVMSnapshot'> {
  const vm = ctx.store.vm(command.vmName);
  if (!vm) return { result: true, exists: false };
  const now = {
    volumes: vm.disks.map(volumeAnswer),
    powerState: ctx.running.has(vm.name) ? ('PowerOn' as const) : ('PowerOff' as const),
  };
  const exists = await snapshotIntact(vm, command.target.name);
  const revertApplied =
    command.revertRequestId === undefined
      ? {}
      : { revertApplied: vm.lastRevertRequest === command.revertRequestId };
  return {
    result: true,
    exists,
    current: exists && vm.currentSnapshot === command.target.name,
    ...revertApplied,
    ...now,
  };
}

/** The snapshot is usable and every file (and internal tag) it needs is there. */
async function snapshotIntact(vm: VmRecord, name: string): Promise<boolean> {
  const snap = vm.snapshots.find((s) => s.name === name);
  if (!snap || (snap.state !== 'Ready' && snap.state !== 'Hidden')) return false;
  if (snap.vmstate && !existsSync(snap.vmstate)) return false;
  if (snap.rbdGroupSnap) return true; // its disks are a group snapshot on Ceph, not files here
  for (const d of snap.disks) {
    if (!existsSync(d.image)) return false;
    if (snap.mode === 'internal') {
      const tags = await img.snapshotList(d.image, true);
      if (!tags.some((t) => t.name === snap.name)) return false;
    }
  }
  return true;
}
