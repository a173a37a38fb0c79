/**
 * # Rolling back a failed or interrupted snapshot create
 *
 * The snapshot ends in Error, the VM runs on a consistent chain, partial files are removed. With a
 * running QEMU, overlays the transaction put on top are committed back live (and an internal tag is
 * deleted); a RAM save still in flight is let finish first (`settleMigration`).
 *
 * If the RAM save itself failed mid-write, QEMU 7.2 wedges the guest (its RAM stays write-protected;
 * `quit` hangs): the agent kills that QEMU, merges the overlays back offline and starts the VM again
 * (a cold boot: RAM state is lost, disks are consistent).
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { AgentContext } from './agent-context.ts';
import { QemuWedgedError } from './agent-failure.ts';
import type { PendingOp, SnapshotRecord, VmRecord } from './agent-state.ts';
import { commitLive, nodeForFile, topNodes, qmpJobId } from './live-block.ts';
import * as img from './qemu-img.ts';
import { QmpTimeoutError } from './qmp-client.ts';
import type { RunningVm } from './vm-process.ts';
import { cancelMigration, waitMigration } from './ram-save.ts';

/** Failed or interrupted create: VM running on a consistent chain, partial files gone, snapshot Error. */
export async function rollbackCreate(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  cause: unknown,
): Promise<void> {
  const pending = vm.pending;
  ctx.log.warn(
    { vm: vm.name, snapshot: record.name, step: pending?.step, err: cause },
    'snapshot failed: rolling back',
  );
  let running = ctx.running.get(vm.name);
  try {
    if (pending && running) {
      try {
        await rollbackRunning(ctx, vm, record, pending, running);
      } catch (error) {
        const wedged =
          error instanceof QemuWedgedError || error instanceof QmpTimeoutError || running.qmp.closed;
        if (!wedged) throw error;
        // QEMU 7.2 wedges when a background-snapshot save fails mid-write (its writer died): the
        // guest stops (its RAM stays write-protected), later QMP may go silent and `quit` never
        // completes (measured). Kill it; the disks are merged back offline below and the VM is
        // started again (cold boot: its RAM state is lost) on the consistent chain.
        ctx.log.error({ vm: vm.name, err: error }, 'QEMU wedged after the failed save: restarting the VM');
        await ctx.halt(vm.name, true);
        running = undefined;
      }
    }
    if (pending) await undoCutOffline(ctx, vm, pending, running);
    if (pending?.wasRunning && !ctx.running.has(vm.name)) await ctx.launch(vm, false);
  } catch (error) {
    ctx.log.error({ vm: vm.name, err: error }, 'rollback incomplete');
  }
  record.state = 'Error';
  record.disks = [];
  record.error = cause instanceof Error ? cause.message : String(cause);
  vm.pending = null;
  await ctx.store.save();
}

/**
 * Removes the overlays of a failed cut that no running QEMU uses. An overlay may hold guest writes
 * made after the cut (QEMU died or was killed on it), so it is committed into its backing file
 * first; committing an overlay that was never written is a no-op.
 */
async function undoCutOffline(
  ctx: AgentContext,
  vm: VmRecord,
  pending: PendingOp,
  running: RunningVm | undefined,
): Promise<void> {
  const tops = running ? await topNodes(running.qmp) : new Map<number, { node: string }>();
  for (const f of pending.newFiles) {
    if (tops.get(f.deviceId)?.node === f.node) {
      ctx.log.error({ vm: vm.name, overlay: f.file }, 'overlay still in use after rollback: kept');
      continue;
    }
    const disk = vm.disks.find((d) => d.deviceId === f.deviceId);
    if (!disk) continue;
    if (!running && existsSync(f.file)) {
      const backing = (await img.info(f.file).catch(() => null))?.backingFile;
      if (backing) await img.commit(f.file);
    }
    if (disk.active === f.file) disk.active = disk.backing[f.file] ?? disk.active;
    delete disk.backing[f.file];
    await rm(f.file, { force: true });
  }
  if (pending.vmstate) await rm(pending.vmstate, { force: true });
}

async function rollbackRunning(
  ctx: AgentContext,
  vm: VmRecord,
  record: SnapshotRecord,
  pending: PendingOp,
  running: RunningVm,
): Promise<void> {
  const qmp = running.qmp;
  // A wedged QEMU shows here as a timeout (handled by the caller).
  await qmp.execute('query-status', undefined, 5000);
  await settleMigration(ctx, vm.name, qmp);
  if (record.mode === 'live') {
    const migration = (await qmp.execute('query-migrate', undefined, 5000)) as { status?: string };
    if (migration.status === 'failed') {
      throw new QemuWedgedError(
        'background-snapshot save failed mid-write: guest RAM may stay write-protected',
      );
    }
  }
  // Merge each overlay the transaction created back into the disk it came from.
  const tops = await topNodes(qmp);
  for (const f of pending.newFiles) {
    const top = tops.get(f.deviceId);
    if (!top || top.node !== f.node) continue;
    const disk = vm.disks.find((d) => d.deviceId === f.deviceId)!;
    const base = disk.active === f.file ? disk.backing[f.file] : disk.active;
    const baseNode = base ? await nodeForFile(qmp, base) : null;
    if (!baseNode) continue;
    await commitLive(qmp, top.node, top.node, baseNode);
    disk.active = base!;
  }
  if (record.mode === 'internal') {
    const jobId = qmpJobId('del');
    const devices = [...tops.values()].map((t) => t.node);
    await qmp
      .runJob(jobId, () => qmp.execute('snapshot-delete', { 'job-id': jobId, tag: record.name, devices }))
      .catch(() => undefined);
  }
  if (pending.wasRunning && (await running.status()) !== 'running') await qmp.execute('cont');
}

/**
 * Lets a RAM save still in flight end before the disks are rolled back. Never kill QEMU's writer:
 * on QEMU 7.2 a background-snapshot whose writer dies wedges the guest and `quit` (measured); a
 * `migrate_cancel` waits for the writer anyway. So wait for the end, and cancel only after that.
 */
async function settleMigration(ctx: AgentContext, vmName: string, qmp: RunningVm['qmp']): Promise<void> {
  try {
    const answer = (await qmp.execute('query-migrate', undefined, 5000)) as { status?: string };
    if (!answer.status || ['completed', 'failed', 'cancelled', 'none'].includes(answer.status)) return;
    ctx.log.warn({ vm: vmName, status: answer.status }, 'waiting for the interrupted RAM save to end');
    await waitMigration(qmp, qmp.mark(), 10 * 60_000).catch((error: unknown) => {
      if (error instanceof QmpTimeoutError) throw error;
      return cancelMigration(qmp);
    });
  } catch (error) {
    if (error instanceof QmpTimeoutError) throw error;
    ctx.log.error({ vm: vmName, err: error }, 'settling the RAM save failed');
  }
}
