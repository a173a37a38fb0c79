/**
 * # Taking a snapshot
 *
 * Validates the request, records the snapshot (`Creating`) and the operation (`pending`, with the
 * overlay file names chosen up front), then hands over to the mode:
 * - disk only, running VM: `cutRunning` (`disk-snapshot.ts`), one QMP transaction, optional quiesce;
 * - disk only, stopped VM: `cutStopped` (`disk-snapshot.ts`), overlays made with `qemu-img`;
 * - memory, `live` (default): `saveLive` (`memory-snapshot.ts`);
 * - memory, `internal`: `saveInternal` (`memory-snapshot.ts`).
 *
 * Every step reached is persisted before and after each risky step (never inside a freeze or pause:
 * an fsync would lengthen it). A failure rolls back (`snapshot-rollback.ts`): the snapshot ends in
 * Error, the VM runs on a consistent chain, partial files are removed.
 *
 * Internal and external snapshots are never mixed on one VM: deleting an external snapshot commits
 * files that hold internal ones, which loses them (virt-manager issue 811). Such requests are refused.
 */
import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandOf, HostTimings } from '../../core/plugin-api.ts';
import { volumeAnswer, type AgentContext, type Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { SnapshotMode, SnapshotRecord, VmRecord } from './agent-state.ts';
import { cutRunning, cutStopped } from './disk-snapshot.ts';
import { saveInternal, saveLive } from './memory-snapshot.ts';
import { rollbackCreate } from './snapshot-rollback.ts';
import { rollbackRbdCreate, saveRbdLive } from './rbd-memory-snapshot.ts';
import { hostNowMs, round } from './host-timing.ts';

export async function createSnapshot(
  ctx: AgentContext,
  command: CommandOf<'CreateVMSnapshot'>,
): Answer<'CreateVMSnapshot'> {
  const vm = ctx.requireVm(command.vmName);
  const onRbd = vm.disks.some((d) => d.rbd);
  if (onRbd && command.target.type !== 'DiskAndMemory')
    fail(
      `VM ${vm.name} has disks on RBD: their snapshots are group snapshots on the Ceph pool (storage strategy), not qcow2 overlays`,
    );
  if (onRbd && command.memoryMode === 'internal')
    fail(`VM ${vm.name} has disks on RBD: internal (snapshot-save) memory snapshots need qcow2 disks`);
  const name = command.target.name;
  const existing = vm.snapshots.find((s) => s.name === name);
  if (existing && existing.state !== 'Error') fail(`snapshot ${name} already exists on VM ${vm.name}`);
  if (vm.pending) fail(`VM ${vm.name} has an unfinished ${vm.pending.op} of ${vm.pending.snapshot}`);
  const running = ctx.running.get(vm.name);
  const memory = command.target.type === 'DiskAndMemory';
  if (memory && !running) fail(`a memory snapshot needs VM ${vm.name} running`);
  const mode: SnapshotMode = memory
    ? onRbd
      ? 'live' // RAM to a file, disks as a group snapshot (rbd-memory-snapshot.ts)
      : (command.memoryMode ?? ctx.options.defaultMemoryMode ?? 'live')
    : 'external';
  refuseMix(vm, mode);

  const record: SnapshotRecord = {
    name,
    id: command.target.id,
    parent: command.target.parent?.name ?? null,
    type: command.target.type,
    mode,
    state: 'Creating',
    disks: [],
    vmstate: mode === 'live' ? path.join(vm.poolDir, `${vm.name}-${name}.vmstate`) : null,
    timings: {},
    createdAt: Date.now(),
  };
  // Another VM's RAM file may have this name (VM `a`, snapshot `b-c` vs VM `a-b`, snapshot `c`):
  // refuse before anything is recorded, so a rollback never removes a file this snapshot did not make.
  if (record.vmstate && (await nameTaken(record.vmstate)))
    fail(`RAM state file ${path.basename(record.vmstate)} already exists in the pool`);
  vm.snapshots = vm.snapshots.filter((s) => s !== existing);
  vm.snapshots.push(record);
  const suffix = randomBytes(3).toString('hex');
  vm.pending = {
    op: 'create',
    snapshot: name,
    step: 'start',
    wasRunning: running !== undefined,
    newFiles:
      mode === 'internal' || onRbd
        ? []
        : vm.disks.map((d) => ({
            deviceId: d.deviceId,
            file: path.join(vm.poolDir, `${vm.name}-vd${d.deviceId}-${name}-${suffix}.qcow2`),
            node: `s${d.deviceId}-${suffix}`,
          })),
    vmstate: record.vmstate,
  };
  await ctx.step(vm, 'start');
  const started = hostNowMs();
  try {
    let timings: HostTimings;
    if (onRbd) timings = await saveRbdLive(ctx, vm, record, running!);
    else if (mode === 'internal') timings = await saveInternal(ctx, vm, record, running!);
    else if (mode === 'live') timings = await saveLive(ctx, vm, record, running!);
    else if (running)
      timings = await cutRunning(ctx, vm, record, running, command.quiesce, command.freezeBudgetMs);
    else timings = await cutStopped(ctx, vm, record);
    record.timings = { ...timings, totalMs: round(hostNowMs() - started) };
    record.state = 'Ready';
    vm.pending = null;
    vm.currentSnapshot = name;
    await ctx.store.save();
    ctx.log.info({ vm: vm.name, snapshot: name, mode, ...record.timings }, 'snapshot taken');
    return {
      result: true,
      ...(record.note ? { details: record.note } : {}),
      volumes: vm.disks.map(volumeAnswer),
      timings: record.timings,
      ...(memory ? { memoryMode: mode === 'internal' ? 'internal' : 'live' } : {}),
    };
  } catch (error) {
    if (onRbd) await rollbackRbdCreate(ctx, vm, record, error);
    else await rollbackCreate(ctx, vm, record, error);
    throw error;
  }
}

/** True when `file` exists, as a file or as any symbolic link (even a dangling one). */
async function nameTaken(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** virt-manager issue 811: committing external overlays loses internal snapshots held in them. */
function refuseMix(vm: VmRecord, mode: SnapshotMode): void {
  const live = vm.snapshots.filter((s) => s.state !== 'Error');
  const hasInternal = live.some((s) => s.mode === 'internal');
  const hasExternal = live.some((s) => s.mode !== 'internal');
  if (mode === 'internal' && hasExternal) {
    fail(
      `VM ${vm.name} has external snapshots; an internal (snapshot-save) snapshot on top of them can be lost when they are merged (virt-manager issue 811). Delete them first or use memoryMode=live`,
    );
  }
  if (mode !== 'internal' && hasInternal) {
    fail(
      `VM ${vm.name} has internal (snapshot-save) snapshots; an external snapshot on top of them can lose their data when merged (virt-manager issue 811). Delete them first or use memoryMode=internal`,
    );
  }
}
