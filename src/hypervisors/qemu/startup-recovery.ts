/**
 * # What a restarted agent finishes for the process that died
 *
 * - Freezes (`recoverFreezes`): the dead process's watchdogs are gone, so the guests it froze are
 *   thawed from the persisted freeze records (a snapshot's freeze at once, a caller's at its
 *   deadline), and any guest found frozen with nothing on record is thawed too.
 * - Operations (`reconcile`): a snapshot create a crash interrupted is rolled back
 *   (`snapshot-rollback.ts`: the snapshot ends in Error, the VM runs on a consistent chain, partial
 *   files are removed); an interrupted revert or delete leaves the VM as the recorded chain says and
 *   removes the files it had created but not adopted.
 */
import { rm } from 'node:fs/promises';
import type { AgentContext } from './agent-context.ts';
import type { VmRecord } from './agent-state.ts';
import type { GuestAgentClient } from './guest-agent-client.ts';
import { rollbackCreate } from './snapshot-rollback.ts';
import { rollbackRbdCreate } from './rbd-memory-snapshot.ts';

/**
 * After a restart the previous process's watchdogs are gone. A guest whose freeze is on record is
 * thawed at once when its deadline passed, when it has none, or when a snapshot of this agent froze
 * it (that operation died with the process); a caller's freeze gets its watchdog back for the rest
 * of its budget. Running guests with nothing on record are asked too, in the background (an OS-less
 * VM has no guest agent and would only make the start wait for a timeout).
 */
export async function recoverFreezes(ctx: AgentContext): Promise<void> {
  let changed = false;
  for (const vm of ctx.store.data.vms) {
    const freeze = vm.freeze;
    const guest = ctx.guests.get(vm.name);
    if (!freeze) {
      if (guest) void thawIfFrozen(ctx, vm.name, guest);
      continue;
    }
    if (!guest) {
      vm.freeze = null; // QEMU is gone, and the freeze with it
      changed = true;
      continue;
    }
    const left = freeze.deadline === null ? 0 : freeze.deadline - Date.now();
    if (freeze.owner === 'caller' && left > 0) {
      ctx.log.warn({ vm: vm.name, leftMs: left }, 'guest frozen before the restart: watchdog re-armed');
      ctx.watchdog.arm(vm.name, freeze.deadline!);
      continue;
    }
    ctx.log.warn(
      { vm: vm.name, owner: freeze.owner, overdueMs: -left },
      'guest frozen before the restart: thawing it now',
    );
    try {
      await guest.fsfreezeThaw(5000);
      vm.freeze = null;
      changed = true;
    } catch (error) {
      ctx.log.error({ vm: vm.name, err: error }, 'thaw after restart failed: retrying in 1 s');
      ctx.watchdog.arm(vm.name, Date.now() + 1000);
    }
  }
  if (changed) await ctx.store.save();
}

/** A guest found frozen with no freeze on record has no owner left: thaw it. */
async function thawIfFrozen(ctx: AgentContext, name: string, guest: GuestAgentClient): Promise<void> {
  try {
    if (!(await guest.ping(1500))) return;
    if ((await guest.fsfreezeStatus(2000)) !== 'frozen' || ctx.store.vm(name)?.freeze) return;
    ctx.log.warn({ vm: name }, 'guest frozen with no freeze on record: thawing it');
    await guest.fsfreezeThaw(5000);
  } catch (error) {
    ctx.log.warn({ vm: name, err: error }, 'checking the guest freeze after restart failed');
  }
}

/** After a restart: finish what the crash interrupted. */
export async function reconcile(ctx: AgentContext, vm: VmRecord): Promise<void> {
  const pending = vm.pending!;
  ctx.log.warn(
    { vm: vm.name, op: pending.op, snapshot: pending.snapshot, step: pending.step },
    'reconciling an interrupted operation',
  );
  const record = vm.snapshots.find((s) => s.name === pending.snapshot);
  if (pending.op === 'create' && record) {
    const cause = new Error(`agent restarted during step ${pending.step}`);
    if (vm.disks.some((d) => d.rbd)) await rollbackRbdCreate(ctx, vm, record, cause);
    else await rollbackCreate(ctx, vm, record, cause);
    return;
  }
  // Revert/delete: files created but not adopted are removed; the VM stays as the chain says.
  for (const f of pending.newFiles) {
    const disk = vm.disks.find((d) => d.deviceId === f.deviceId);
    if (disk && !(f.file in disk.backing)) await rm(f.file, { force: true });
  }
  vm.pending = null;
  await ctx.store.save();
}
