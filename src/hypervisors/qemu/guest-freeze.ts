/**
 * # Guest freeze/thaw (qemu-ga) with the watchdog
 *
 * Every freeze (a snapshot's or a FreezeThaw command's) is persisted with its deadline BEFORE the
 * freeze goes to the guest: the watchdog (`../freeze-watchdog.ts`) is in memory, so a restarted agent
 * thaws the guests the dead process froze (`startup-recovery.ts`). The fsync happens outside the
 * freeze window.
 */
import type { CommandOf } from '../../core/plugin-api.ts';
import type { AgentContext, Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { FreezeRecord, VmRecord } from './agent-state.ts';
import type { FrozenIntervals } from './frozen-intervals.ts';
import type { GuestAgentClient } from './guest-agent-client.ts';
import { hostNowMs, round } from './host-timing.ts';

function requireGuest(ctx: AgentContext, name: string): GuestAgentClient {
  return ctx.guests.get(name) ?? fail(`VM ${name} is not running`);
}

export async function guestPing(ctx: AgentContext, name: string): Answer<'GuestPing'> {
  const guest = ctx.guests.get(name);
  return { result: true, available: guest ? await guest.ping(2000) : false };
}

export async function freezeThaw(ctx: AgentContext, command: CommandOf<'FreezeThaw'>): Answer<'FreezeThaw'> {
  const guest = requireGuest(ctx, command.vmName);
  const vm = ctx.requireVm(command.vmName);
  switch (command.option) {
    case 'freeze': {
      await recordFreeze(ctx, vm, command.budgetMs, 'caller');
      const frozen = await freezeGuest(ctx, vm, guest);
      return { result: true, status: 'frozen', frozenFilesystems: frozen };
    }
    case 'thaw': {
      const thawed = await thawGuest(ctx, vm, guest);
      await ctx.store.save();
      return { result: true, status: 'thawed', frozenFilesystems: thawed };
    }
    case 'status':
      return { result: true, status: await guest.fsfreezeStatus(5000) };
    default: {
      const never: never = command.option;
      return fail(`unknown freeze option ${String(never)}`);
    }
  }
}

/**
 * Persists the freeze (and its deadline) BEFORE the freeze command goes out: the watchdog lives in
 * this process's memory, so a restarted agent needs the record to thaw the guest (see recoverFreezes).
 * The fsync happens here, outside the freeze window.
 */
export async function recordFreeze(
  ctx: AgentContext,
  vm: VmRecord,
  budgetMs: number | undefined,
  owner: FreezeRecord['owner'],
): Promise<void> {
  vm.freeze = { deadline: budgetMs === undefined ? null : Date.now() + budgetMs, owner };
  await ctx.store.save();
}

/**
 * Freezes the guest; the watchdog thaws it at the recorded deadline (also if the freeze call failed).
 * `intervals` (an operation's freeze accounting) opens an interval as the freeze is sent.
 */
export async function freezeGuest(
  ctx: AgentContext,
  vm: VmRecord,
  guest: GuestAgentClient,
  intervals?: FrozenIntervals,
): Promise<number> {
  intervals?.freezeSent();
  try {
    return await guest.fsfreezeFreeze(10_000);
  } finally {
    const deadline = vm.freeze?.deadline;
    if (deadline !== undefined && deadline !== null) ctx.watchdog.arm(vm.name, deadline);
  }
}

/**
 * Thaws the guest; the watchdog stays armed if the thaw fails. The caller persists `freeze: null`.
 * `intervals` closes its open interval when the thaw is answered, or when it failed (a lower bound).
 */
export async function thawGuest(
  ctx: AgentContext,
  vm: VmRecord,
  guest: GuestAgentClient,
  intervals?: FrozenIntervals,
): Promise<number> {
  try {
    const thawed = await guest.fsfreezeThaw(10_000);
    ctx.watchdog.disarm(vm.name);
    vm.freeze = null;
    return thawed;
  } finally {
    intervals?.thawEnded();
  }
}

/** What the watchdog does when a freeze budget runs out. */
export async function watchdogThaw(ctx: AgentContext, name: string): Promise<void> {
  try {
    await ctx.guests.get(name)?.fsfreezeThaw(5000);
    const vm = ctx.store.vm(name);
    if (vm?.freeze) {
      vm.freeze = null;
      await ctx.store.save();
    }
  } catch (error) {
    ctx.log.error({ vm: name, err: error }, 'watchdog thaw failed');
  }
}

/**
 * The flush the agent used before issue 15 (`preFreezeFlush: 'freeze-cycle'`, kept to measure against):
 * a freeze/thaw cycle of its own before the real freeze. The first freeze after dirty writes takes
 * 40-80 ms on the tiny guest (TCG), a second one right after ~5 ms, so the window around the cut is
 * short, but guest writes are blocked during this cycle too: `intervals` counts it. The default is a
 * `sync` through guest-exec instead (`guest-presync.ts`), which freezes nothing. Runs under the
 * snapshot's freeze record (kept for the real freeze). Returns its duration.
 */
export async function flushByFreeze(
  ctx: AgentContext,
  vm: VmRecord,
  guest: GuestAgentClient,
  intervals: FrozenIntervals,
): Promise<number> {
  const started = hostNowMs();
  await freezeGuest(ctx, vm, guest, intervals);
  try {
    await guest.fsfreezeThaw(10_000);
  } finally {
    intervals.thawEnded();
  }
  ctx.watchdog.disarm(vm.name);
  return round(hostNowMs() - started);
}
