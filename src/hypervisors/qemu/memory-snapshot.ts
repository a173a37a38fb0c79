/**
 * # Memory snapshots: disks and RAM from the same instant
 *
 * - `live` (default, `saveLive`): `stop` -> disk transaction -> background-snapshot migration of RAM
 *   to `<pool>/<vm>-<snap>.vmstate`; QEMU resumes the VM itself (no early `cont`). Pause = RESUME -
 *   STOP (QEMU timestamps). If the agent dies mid-save QEMU finishes the save on its own; the
 *   restarted agent waits for it, then rolls back. If the save itself fails mid-write, QEMU 7.2
 *   wedges the guest (see `snapshot-rollback.ts`).
 * - `internal` (`saveInternal`): `snapshot-save` job (stop-the-world), the VM state in the first disk.
 *
 * Reverting to either is in `snapshot-revert.ts`.
 */
import type { HostTimings } from '../../core/plugin-api.ts';
import type { AgentContext } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { SnapshotRecord, VmRecord } from './agent-state.ts';
import { adoptOverlays, cutsFor, diskSizes } from './disk-snapshot.ts';
import { abandonCut, commitCut, prepareCut, topNodes, qmpJobId } from './live-block.ts';
import { createPrivateFile } from './private-files.ts';
import type { RunningVm } from './vm-process.ts';
import { hostNowMs, pauseFromEvents, round } from './host-timing.ts';
import { prepareBackgroundSave, shellQuote, waitMigration } from './ram-save.ts';

const GIB = 1024 * 1024 * 1024;

export async function saveLive(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  running: RunningVm,
): Promise<HostTimings> {
  const qmp = running.qmp;
  const pending = vm.pending!;
  // Made here, 0600 and exclusively: the RAM save's shell then writes into this file, never
  // through a link planted under its name (and never with QEMU's own umask).
  await createPrivateFile(record.vmstate!);
  await prepareBackgroundSave(qmp, ctx.options.saveBandwidthBytes ?? 8 * GIB);
  const cuts = cutsFor(vm, await topNodes(qmp), pending);
  // Persisted before the pause; nothing is persisted inside it (an fsync would lengthen it).
  await ctx.step(vm, 'cutting');
  await prepareCut(qmp, cuts, diskSizes(vm));
  const since = qmp.mark();
  const phases = { stopped: 0, cut: 0, migrating: 0 };
  try {
    await ctx.step(vm, 'stopping');
    // Disk and RAM from the same instant: nothing may run between the cut and the RAM save start,
    // so no `cont` here: QEMU resumes the VM once the RAM is write-protected.
    await qmp.execute('stop');
    phases.stopped = hostNowMs();
    await ctx.transientStep(vm, 'stopped');
    await commitCut(qmp, cuts);
    phases.cut = hostNowMs();
  } catch (error) {
    await abandonCut(qmp, cuts);
    throw error;
  }
  adoptOverlays(vm, record, pending);
  await qmp.execute('migrate', { uri: saveUri(ctx, record.vmstate!) });
  phases.migrating = hostNowMs();
  await ctx.step(vm, 'saving');
  const end = await waitMigration(qmp, since, 10 * 60_000);
  if (end !== 'completed') fail(`RAM save ${end}`);
  // QEMU 7.2 resumes the VM itself once the RAM is write-protected; later versions may not.
  await qmp
    .waitEvent((e) => e.event === 'RESUME', 2000, since)
    .catch(async () => {
      if ((await running.status()) !== 'running') await qmp.execute('cont');
    });
  await ctx.step(vm, 'saved');
  const pauseMs = pauseFromEvents(qmp, since);
  const events = qmp.eventsSince(since);
  const stop = events.find((e) => e.event === 'STOP');
  const resume = events.find((e) => e.event === 'RESUME');
  if (stop && resume) {
    // Host and QEMU timestamps share the realtime clock: good enough to show where the pause goes.
    record.note =
      `pause ${pauseMs} ms: stop ${round(phases.stopped - stop.qemuMs)}, disk cut ${round(phases.cut - phases.stopped)}, ` +
      `migrate start ${round(phases.migrating - phases.cut)}, RAM write-protect + device state until RESUME ${round(resume.qemuMs - phases.migrating)}`;
  }
  return { pauseMs, freezeMs: 0 };
}

/**
 * Where the RAM goes: a shell writing the pool file. With `saveStallMs` (fault injection) the writer
 * opens the file at once but reads only later, so the save stays in flight that long.
 */
function saveUri(ctx: AgentContext, file: string): string {
  const stall = ctx.options.saveStallMs;
  const target = shellQuote(file);
  return stall ? `exec:(sleep ${Math.ceil(stall / 1000)}; exec cat) > ${target}` : `exec:cat > ${target}`;
}

export async function saveInternal(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  running: RunningVm,
): Promise<HostTimings> {
  const qmp = running.qmp;
  const tops = await topNodes(qmp);
  const devices = vm.disks.map(
    (d) => tops.get(d.deviceId)?.node ?? fail(`disk vd${d.deviceId} not attached`),
  );
  if (devices.length === 0) fail('an internal memory snapshot needs at least one disk for the VM state');
  const since = qmp.mark();
  await ctx.step(vm, 'saving');
  const jobId = qmpJobId('save');
  await qmp.runJob(jobId, () =>
    qmp.execute('snapshot-save', { 'job-id': jobId, tag: record.name, vmstate: devices[0], devices }),
  );
  record.disks = vm.disks.map((d) => ({ volumeId: d.volumeId, deviceId: d.deviceId, image: d.active }));
  await ctx.step(vm, 'saved');
  return { pauseMs: pauseFromEvents(qmp, since), freezeMs: 0 };
}
