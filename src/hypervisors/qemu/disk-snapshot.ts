/**
 * # Disk-only snapshots: external qcow2 overlays
 *
 * - Running VM (`cutRunning`): overlays for all disks in ONE QMP `transaction`. The overlays are
 *   created (`qemu-img create -u`) and opened (`blockdev-add`) first, so the transaction is only
 *   `blockdev-snapshot` graph switches (~1.5 ms instead of ~20 ms with `blockdev-snapshot-sync`).
 *   With quiesce, a `sync` through guest-exec flushes first without freezing (`guest-presync.ts`),
 *   then freeze -> transaction -> thaw in `finally`; the freeze budget arms a watchdog that thaws on
 *   its own. The VM is not paused. Every freeze of the operation is counted (`frozen-intervals.ts`):
 *   the answer's timings carry the window, the longest freeze and the total, `details` break them down.
 * - Stopped VM (`cutStopped`): overlays made with `qemu-img`.
 *
 * The snapshot's images are the files that were active at the cut; the overlays become active.
 * The helpers here (`cutsFor`, `diskSizes`, `adoptOverlays`) are shared with the live memory snapshot.
 */
import type { HostTimings } from '../../core/plugin-api.ts';
import type { AgentContext } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { PendingOp, SnapshotRecord, VmRecord } from './agent-state.ts';
import { FrozenIntervals } from './frozen-intervals.ts';
import type { GuestAgentClient } from './guest-agent-client.ts';
import { flushByFreeze, freezeGuest, recordFreeze, thawGuest } from './guest-freeze.ts';
import { describeGuestSync, GuestSyncUnansweredError, syncGuestBeforeFreeze } from './guest-presync.ts';
import { abandonCut, commitCut, prepareCut, topNodes, type DiskCut } from './live-block.ts';
import * as img from './qemu-img.ts';
import type { RunningVm } from './vm-process.ts';
import { hostNowMs, pauseFromEvents, round } from './host-timing.ts';

/** One cut per new overlay: the disk's current top node and file, and the overlay that goes on it. */
export function cutsFor(
  vm: VmRecord,
  tops: Map<number, { node: string; file: string }>,
  pending: PendingOp,
): DiskCut[] {
  return pending.newFiles.map((f) => {
    const top = tops.get(f.deviceId) ?? fail(`disk vd${f.deviceId} of ${vm.name} is not attached`);
    return { node: top.node, file: top.file, overlay: f.file, overlayNode: f.node };
  });
}

export function diskSizes(vm: VmRecord): Map<string, number> {
  return new Map(vm.disks.map((d) => [d.active, d.size]));
}

/** Moves every disk onto its new overlay and records the snapshot-time images. */
export function adoptOverlays(vm: VmRecord, record: SnapshotRecord, pending: PendingOp): void {
  record.disks = [];
  for (const disk of vm.disks) {
    const overlay = pending.newFiles.find((f) => f.deviceId === disk.deviceId);
    if (!overlay) continue;
    record.disks.push({ volumeId: disk.volumeId, deviceId: disk.deviceId, image: disk.active });
    disk.backing[overlay.file] = disk.active;
    disk.active = overlay.file;
  }
}

export async function cutRunning(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  running: RunningVm,
  quiesce: boolean,
  budgetMs: number | undefined,
): Promise<HostTimings> {
  const pending = vm.pending!;
  const cuts = cutsFor(vm, await topNodes(running.qmp), pending);
  const guest = quiesce ? ctx.guests.get(vm.name) : undefined;
  if (quiesce && !guest) fail(`cannot quiesce ${vm.name}: no guest agent`);
  // Asked before any freeze is recorded: a VM without qemu-ga (an OS-less one) fails in one wait,
  // with nothing to thaw.
  if (guest && !(await guest.ping(ctx.guestSyncTimeoutMs)))
    fail(
      `cannot quiesce ${vm.name}: its guest agent (qemu-ga) did not answer within ${ctx.guestSyncTimeoutMs} ms`,
    );
  const since = running.qmp.mark();
  const intervals = new FrozenIntervals(hostNowMs);
  const window = { freezeStart: 0, frozen: 0, cutStart: 0, cut: 0, thawed: 0 };
  let flushNote = '';
  let committed = false;
  let failed = false;
  // Persisted before the overlays exist; they are created and opened before the freeze.
  await ctx.step(vm, 'cutting');
  await prepareCut(running.qmp, cuts, diskSizes(vm));
  try {
    if (guest) {
      flushNote = await flushAndFreeze(ctx, vm, guest, budgetMs, intervals, window);
      await ctx.transientStep(vm, 'frozen');
    }
    window.cutStart = hostNowMs();
    await commitCut(running.qmp, cuts);
    committed = true;
    window.cut = hostNowMs();
  } catch (error) {
    failed = true;
    if (!committed) await abandonCut(running.qmp, cuts);
    throw error;
  } finally {
    // Any freeze recorded (the flush's or the window's, even one whose call failed: a timed-out
    // freeze may still take effect) is thawed now; if that fails the watchdog thaws at the deadline.
    if (guest && vm.freeze) {
      const thaw = thawGuest(ctx, vm, guest, intervals);
      if (failed) await thaw.catch(() => undefined);
      else await thaw;
      window.thawed = hostNowMs();
    }
  }
  adoptOverlays(vm, record, pending);
  await ctx.step(vm, 'cut');
  const frozen = intervals.summary();
  const freezeMs = window.freezeStart > 0 ? round(window.thawed - window.freezeStart) : 0;
  if (quiesce) {
    record.note =
      `freeze window ${freezeMs} ms (freeze ${round(window.frozen - window.freezeStart)}, cut ${round(window.cut - window.cutStart)}, thaw ${round(window.thawed - window.cut)}); ` +
      `longest freeze ${round(frozen.maxMs)} ms, frozen ${round(frozen.totalMs)} ms in all over ${frozen.count} freeze(s); ${flushNote}`;
    ctx.log.debug({ vm: vm.name, freezeMs, frozen, flush: flushNote }, 'freeze window');
  }
  const pause = pauseFromEvents(running.qmp, since);
  return {
    pauseMs: Number.isNaN(pause) ? 0 : pause,
    freezeMs,
    maxFreezeMs: round(frozen.maxMs),
    frozenTotalMs: round(frozen.totalMs),
  };
}

/**
 * The flush chosen by `preFreezeFlush`, then the snapshot's freeze (recorded first, outside any
 * freeze). `sync` freezes nothing before the real freeze; `freeze-cycle` is a freeze of its own, and
 * `intervals` counts it. Returns the flush's line for the snapshot's details.
 */
async function flushAndFreeze(
  ctx: AgentContext,
  vm: VmRecord,
  guest: GuestAgentClient,
  budgetMs: number | undefined,
  intervals: FrozenIntervals,
  window: { freezeStart: number; frozen: number },
): Promise<string> {
  const flush = ctx.options.preFreezeFlush ?? 'sync';
  let note = 'no flush before the freeze';
  if (flush === 'sync') {
    const outcome = await syncGuestBeforeFreeze(guest, ctx.options.guestSync).catch((error: unknown) => {
      if (error instanceof GuestSyncUnansweredError) fail(`cannot quiesce ${vm.name}: ${error.message}`);
      throw error;
    });
    note = describeGuestSync(outcome);
  }
  // One record covers the flush cycle (if any) and the real freeze; persisted before both.
  await recordFreeze(ctx, vm, budgetMs, 'snapshot');
  if (flush === 'freeze-cycle')
    note = `flush freeze/thaw before it ${await flushByFreeze(ctx, vm, guest, intervals)} ms`;
  window.freezeStart = hostNowMs();
  await freezeGuest(ctx, vm, guest, intervals);
  window.frozen = hostNowMs();
  return note;
}

export async function cutStopped(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
): Promise<HostTimings> {
  const pending = vm.pending!;
  await ctx.step(vm, 'cutting');
  for (const f of pending.newFiles) {
    const disk = vm.disks.find((d) => d.deviceId === f.deviceId)!;
    await img.createOverlay(f.file, disk.active);
  }
  adoptOverlays(vm, record, pending);
  await ctx.step(vm, 'cut');
  return { pauseMs: 0, freezeMs: 0 };
}
