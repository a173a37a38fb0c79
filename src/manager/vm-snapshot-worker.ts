/**
 * The work behind the snapshot jobs, run on the VM's queue: every state change is persisted before
 * the strategy acts, and every job kind has a recovery path for a crash at any point.
 *
 * Recovery rules (run for a job whose owner died mid-run):
 *  - create: Allocated -> nothing reached the hypervisor, take it now; Creating -> ask the strategy
 *    whether the snapshot exists: yes -> Ready, no -> Error.
 *  - revert: Reverting -> Ready; the VM's power state is re-read from its host.
 *  - delete: Expunging -> finish the delete (strategies' deletes are idempotent).
 */
import type {
  PowerState,
  SnapshotFacts,
  SnapshotOperation,
  TakeResult,
  VolumeInfo,
  VolumeUpdate,
} from '../core/plugin-api.ts';
import { CloudError, CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import type { JobResult, RunningJob } from '../jobs/job-queue.ts';
import type { StoredVmSnapshot } from '../store/vm-snapshot-store.ts';
import { factsToDetails, mergeFacts } from '../core/snapshot-facts.ts';
import { parseSnapshotOptions } from '../core/snapshot-options.ts';
import type { StoredVm } from '../store/inventory-store.ts';
import type { ManagerDeps } from './manager-deps.ts';
import { strategyContext } from './strategy-context.ts';
import { checkDeletable, checkRevertAllowed, JOB_KIND, loadRevertTarget } from './vm-snapshot-manager.ts';
import { pickHost } from './host-picker.ts';
import { removeMergedHidden } from './merged-hidden.ts';
import { internalFailureReporter, type FailureReporter } from './internal-failure.ts';

export class VmSnapshotWorker {
  private readonly reportFailure: FailureReporter;

  /**
   * `deps.agents` already redacts a host's failure texts (wrapped once, in the composition root):
   * strategies see a summary with an error id, never QEMU's raw text.
   */
  constructor(private readonly deps: ManagerDeps) {
    this.reportFailure = internalFailureReporter(deps);
  }

  register(): void {
    const { jobs } = this.deps;
    jobs.handle(
      JOB_KIND.create,
      (j) => this.runCreate(j),
      (j) => this.recoverCreate(j),
    );
    jobs.handle(
      JOB_KIND.revert,
      (j) => this.runRevert(j),
      (j) => this.recoverRevert(j),
    );
    jobs.handle(
      JOB_KIND.delete,
      (j) => this.runDelete(j),
      (j) => this.recoverDelete(j),
    );
  }

  // ---- create ------------------------------------------------------------------------------------

  private async runCreate(job: RunningJob): Promise<JobResult> {
    const { vm, snap, siblings } = await this.loadForCreate(job);
    const label = describe(snap);
    try {
      const volumes = await this.deps.inventory.volumesWithState(vm.id);
      const root = volumes.find((v) => v.volume.type === 'ROOT');
      if (root === undefined)
        throw new CloudRuntimeError('Create Instance to Snapshot failed because no root disk was found');
      if (root.state !== 'Ready') {
        throw new CloudRuntimeError(
          `Create Instance to Snapshot failed due to Instance: ${vm.instanceName} has root disk in ${root.state} state`,
        );
      }
      // A strategy that is gone is reported while the snapshot is still Allocated, not stuck in Creating.
      this.deps.registry.boundTo(snap);
      // Persist Creating (and the parent) before anything reaches the hypervisor.
      const current = siblings.find((s) => s.current);
      const creating = await this.deps.snapshots.fire(snap, 'CreateRequested', {
        parentId: current?.id ?? null,
      });
      await job.progress(`taking snapshot with the ${creating.strategy} strategy`);
      const preloaded = {
        siblings: siblings.map((s) => (s.id === creating.id ? creating : s)),
        volumes: volumes.map((v) => v.volume),
      };
      return await this.take(vm, creating, job, preloaded);
    } catch (err) {
      const reason = await this.publicReason(err, snap, 'VMSNAPSHOT.CREATE');
      throw new CloudRuntimeError(`Failed to create Instance Snapshot: [${label}] due to: ${reason}`);
    }
  }

  private async take(
    vm: StoredVm,
    snap: StoredVmSnapshot,
    job: RunningJob,
    preloaded: Preloaded,
  ): Promise<JobResult> {
    const strategy = this.deps.registry.boundTo(snap);
    const ctx = strategyContext(this.deps, snap.id);
    const op = await this.operation(job, vm, snap, preloaded);
    const started = performance.now();
    let result: TakeResult;
    try {
      result = await strategy.takeVmSnapshot(ctx, op);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const fresh = await this.mustGet(snap.id);
      await this.deps.snapshots.fire(fresh, 'OperationFailed', {
        details: factsToDetails(mergeFacts(ctx.phaseFacts(), { error: reason, totalMs: elapsed(started) })),
      });
      await this.event(
        job,
        snap,
        'VMSNAPSHOT.CREATE',
        'ERROR',
        `failed to create snapshot ${snap.name}: ${reason}`,
      );
      return fromStrategy(err);
    }
    // `snap` is still current: strategies only add checkpoint details, which a finished take drops.
    await this.deps.snapshots.finalizeCreate(
      snap,
      result.records,
      result.volumeUpdates,
      factsToDetails(mergeFacts(result.facts, ctx.phaseFacts(), { totalMs: elapsed(started) })),
    );
    await this.event(
      job,
      snap,
      'VMSNAPSHOT.CREATE',
      'INFO',
      `created snapshot ${snap.name} of ${vm.instanceName}`,
    );
    return { vmsnapshot: snap.id };
  }

  private async recoverCreate(job: RunningJob): Promise<JobResult> {
    const { vm, snap } = await this.loadForCreate(job);
    if (snap.state === 'Allocated') return this.runCreate(job);
    if (snap.state !== 'Creating') return finalResult(snap);
    const strategy = this.deps.registry.boundTo(snap);
    const ctx = strategyContext(this.deps, snap.id);
    const op = await this.operation(job, vm, snap);
    const taken = strategy.reconcileTake
      ? await strategy.reconcileTake(ctx, op)
      : (await strategy.snapshotExists(ctx, op))
        ? recordsFromVolumes(op, snap)
        : null;
    if (taken === null) {
      await this.deps.snapshots.fire(snap, 'OperationFailed', {
        details: factsToDetails({
          error: `interrupted by a management server restart; the ${snap.strategy ?? 'unknown'} strategy has no such snapshot`,
        }),
      });
      throw new CloudRuntimeError(
        `Failed to create Instance Snapshot: [${describe(snap)}] due to: the management server restarted ` +
          `while the snapshot was being taken, and the ${snap.strategy ?? 'unknown'} strategy does not have it`,
      );
    }
    await this.deps.snapshots.finalizeCreate(
      snap,
      taken.records,
      taken.volumeUpdates,
      factsToDetails(mergeFacts(taken.facts, { recovered: true })),
    );
    this.deps.log.info(
      { snapshot: snap.id },
      'recovered an interrupted create: the snapshot exists, now Ready',
    );
    return { vmsnapshot: snap.id };
  }

  /** The VM, the snapshot and its live siblings (the snapshot among them): one read of the VM's tree. */
  private async loadForCreate(
    job: RunningJob,
  ): Promise<{ vm: StoredVm; snap: StoredVmSnapshot; siblings: StoredVmSnapshot[] }> {
    const { snapshotId, vmId } = payloadIds(job);
    const vm = await this.deps.inventory.getVm(vmId);
    if (vm === undefined) {
      throw new InvalidParameterError(
        `Create Instance to Snapshot failed because Instance: ${vmId} is not found`,
      );
    }
    const siblings = await this.deps.snapshots.listByVm(vm.id);
    const snap = siblings.find((s) => s.id === snapshotId);
    if (snap === undefined)
      throw new CloudRuntimeError(`Instance Snapshot id: ${snapshotId} can not be found`);
    return { vm, snap, siblings };
  }

  // ---- revert ------------------------------------------------------------------------------------

  private async runRevert(job: RunningJob): Promise<JobResult> {
    const { snap, vm } = await loadRevertTarget(this.deps, payloadIds(job).snapshotId);
    checkRevertAllowed(vm, snap);
    const strategy = this.deps.registry.boundTo(snap);
    const ctx = strategyContext(this.deps, snap.id);
    const op = await this.operation(job, vm, snap);
    // Refused up front, before any state changes (e.g. a latest-only storage driver).
    if (strategy.validateRevert) await strategy.validateRevert(ctx, op).catch(fromStrategy);
    const reverting = await this.deps.snapshots.fire(snap, 'RevertRequested');
    await job.progress(`reverting with the ${reverting.strategy} strategy`);
    const started = performance.now();
    try {
      const result = await strategy.revertVmSnapshot(ctx, op).catch(fromStrategy);
      await this.deps.snapshots.finalizeRevert(
        await this.mustGet(snap.id),
        result.volumeUpdates,
        factsToDetails(mergeFacts(result.facts, { phaseMs: { revert: elapsed(started) } })),
      );
      await this.applyPowerState(vm, result.powerState);
    } catch (err) {
      await this.deps.snapshots.fire(await this.mustGet(snap.id), 'OperationFailed');
      const reason = await this.publicReason(err, snap, 'VMSNAPSHOT.REVERTTO');
      await this.event(job, snap, 'VMSNAPSHOT.REVERTTO', 'ERROR', reason);
      throw new CloudRuntimeError(reason);
    }
    await this.event(job, snap, 'VMSNAPSHOT.REVERTTO', 'INFO', `reverted ${vm.instanceName} to ${snap.name}`);
    return { virtualmachine: vm.id };
  }

  /** A revert cut short: finished on the host -> record it; otherwise Ready again, power re-read. */
  private async recoverRevert(job: RunningJob): Promise<JobResult> {
    const { snapshotId, vmId } = payloadIds(job);
    const snap = await this.deps.snapshots.get(snapshotId);
    const vm = await this.deps.inventory.getVm(vmId);
    if (snap?.state === 'Reverting' && vm !== undefined) {
      const strategy = this.deps.registry.boundTo(snap);
      const ctx = strategyContext(this.deps, snap.id);
      const done = strategy.reconcileRevert
        ? await strategy.reconcileRevert(ctx, await this.operation(job, vm, snap)).catch(() => null)
        : null;
      if (done !== null) {
        await this.deps.snapshots.finalizeRevert(
          snap,
          done.volumeUpdates,
          factsToDetails(mergeFacts(done.facts, { recovered: true })),
        );
        await this.applyPowerState(vm, done.powerState);
        return { virtualmachine: vm.id };
      }
      await this.deps.snapshots.fire(snap, 'OperationFailed');
    }
    await this.resyncPowerState(vmId);
    throw new CloudRuntimeError(
      `Revert to Instance Snapshot ${snap?.name ?? snapshotId} was interrupted by a management server restart; ` +
        'the snapshot is Ready again and the Instance state was re-read from its host',
    );
  }

  // ---- delete ------------------------------------------------------------------------------------

  private async runDelete(job: RunningJob): Promise<JobResult> {
    const { snapshotId } = payloadIds(job);
    const snap = await this.deps.snapshots.get(snapshotId);
    if (snap === undefined)
      throw new InvalidParameterError(`Unable to find the Instance Snapshot with id ${snapshotId}`);
    checkDeletable(snap);
    if (snap.state === 'Allocated') {
      // Never reached a hypervisor: forget the row (issue 8424: Allocated must not be stuck).
      await this.deps.snapshots.removeRow(snap);
      return { success: true };
    }
    // Refuse before any state change when the strategy is gone, so the snapshot is not left Expunging.
    this.deps.registry.boundTo(snap);
    const expunging = await this.deps.snapshots.fire(snap, 'ExpungeRequested');
    await job.progress('deleting snapshot data');
    return this.finishDelete(job, expunging);
  }

  /** `recovering`: the delete may have reached the host already; ask before sending it again. */
  private async finishDelete(
    job: RunningJob,
    snap: StoredVmSnapshot,
    recovering = false,
  ): Promise<JobResult> {
    const vm = await this.deps.inventory.getVm(snap.vmId);
    const ctx = strategyContext(this.deps, snap.id);
    try {
      if (vm === undefined) throw new CloudRuntimeError(`Instance ${snap.vmId} is not found`);
      const strategy = this.deps.registry.boundTo(snap);
      const op = await this.operation(job, vm, snap);
      const reconciled =
        recovering && strategy.reconcileDelete
          ? await strategy.reconcileDelete(ctx, op).catch(fromStrategy)
          : null;
      const result = reconciled ?? (await strategy.deleteVmSnapshot(ctx, op).catch(fromStrategy));
      const fresh = await this.mustGet(snap.id);
      if (result.outcome === 'hidden') await this.deps.snapshots.fire(fresh, 'Hide');
      else await this.deps.snapshots.finalizeDelete(fresh, result.volumeUpdates);
      // A delete may have let the host merge Hidden snapshots (issue 10 item 17): remove those.
      await removeMergedHidden(this.deps, vm.id, (s) => this.operation(job, vm, s));
    } catch (err) {
      const fresh = await this.deps.snapshots.get(snap.id);
      const reason = await this.publicReason(err, snap, 'VMSNAPSHOT.DELETE');
      if (fresh?.state === 'Expunging')
        await this.deps.snapshots.fire(fresh, 'OperationFailed', {
          details: factsToDetails({ error: reason }),
        });
      await this.event(job, snap, 'VMSNAPSHOT.DELETE', 'ERROR', reason);
      throw new CloudRuntimeError(reason);
    }
    await this.event(job, snap, 'VMSNAPSHOT.DELETE', 'INFO', `deleted snapshot ${snap.name}`);
    return { success: true };
  }

  private async recoverDelete(job: RunningJob): Promise<JobResult> {
    const { snapshotId } = payloadIds(job);
    const snap = await this.deps.snapshots.get(snapshotId);
    if (snap === undefined) return { success: true };
    if (snap.state === 'Expunging') return this.finishDelete(job, snap, true);
    return this.runDelete(job);
  }

  // ---- shared ------------------------------------------------------------------------------------

  private async operation(
    job: RunningJob,
    vm: StoredVm,
    snap: StoredVmSnapshot,
    preloaded?: Preloaded,
  ): Promise<SnapshotOperation> {
    const siblings = preloaded?.siblings ?? (await this.deps.snapshots.listByVm(vm.id));
    return {
      operationId: job.id,
      vm,
      snapshot: snap,
      parents: await this.deps.snapshots.parentChain(snap, siblings),
      siblings,
      volumes: preloaded?.volumes ?? (await this.deps.inventory.volumesOf(vm.id)),
      quiesce: snap.quiesce,
      options: parseSnapshotOptions(snap.options),
    };
  }

  /**
   * What a tenant is told about a failed operation: a deliberate error's own text (the manager's
   * checks, and strategies, whose texts hold only redacted host output); anything else (SQL, a
   * bug) is an internal failure, shown as a summary with an error id.
   */
  private async publicReason(err: unknown, snap: StoredVmSnapshot, eventType: string): Promise<string> {
    if (err instanceof CloudError) return err.message;
    return this.reportFailure({
      summary: 'an internal error occurred',
      detail: err instanceof Error ? err.message : String(err),
      eventType,
      resourceType: 'VmSnapshot',
      resourceId: snap.id,
    });
  }

  private async mustGet(id: string): Promise<StoredVmSnapshot> {
    const s = await this.deps.snapshots.get(id, true);
    if (s === undefined) throw new CloudRuntimeError(`Instance Snapshot id: ${id} can not be found`);
    return s;
  }

  private async applyPowerState(vm: StoredVm, power: PowerState): Promise<void> {
    const fresh = await this.deps.inventory.getVm(vm.id);
    if (fresh === undefined) return;
    if (power === 'PowerOn') {
      const host =
        fresh.hostId ??
        (await pickHost(this.deps.inventory, fresh, await this.deps.inventory.volumesOf(vm.id))).id;
      await this.deps.inventory.setVmState(fresh, 'Running', host);
    } else {
      await this.deps.inventory.setVmState(fresh, 'Stopped', null);
    }
  }

  /** Re-reads a VM's power state from its host (after a crash cut an operation short). */
  async resyncPowerState(vmId: string): Promise<void> {
    const vm = await this.deps.inventory.getVm(vmId);
    if (vm === undefined) return;
    const hostId = vm.hostId ?? vm.lastHostId;
    if (hostId === null) return;
    const answer = await this.deps.agents.send(hostId, { kind: 'GetVmStates' }).catch(() => undefined);
    if (answer === undefined || !answer.result) return;
    const seen = answer.vms.find((v) => v.name === vm.instanceName);
    const running = seen?.powerState === 'PowerOn';
    await this.deps.inventory.setVmState(vm, running ? 'Running' : 'Stopped', running ? hostId : null);
  }

  private async event(
    job: RunningJob,
    snap: StoredVmSnapshot,
    type: string,
    level: 'INFO' | 'ERROR',
    description: string,
  ): Promise<void> {
    await this.deps.events.record({
      accountId: snap.accountId,
      userId: job.userId,
      type,
      level,
      state: 'Completed',
      description,
      resourceType: 'VmSnapshot',
      resourceId: snap.id,
    });
  }
}

/** What a caller already read, so an operation does not read it again. */
interface Preloaded {
  readonly siblings: readonly StoredVmSnapshot[];
  readonly volumes: readonly VolumeInfo[];
}

function payloadIds(job: RunningJob): { snapshotId: string; vmId: string } {
  return { snapshotId: String(job.payload['snapshotId']), vmId: String(job.payload['vmId']) };
}

/**
 * A strategy's failure, kept with its text: strategies word their errors for the user, and the host
 * output inside them is already redacted (see host-failure-redaction.ts).
 */
function fromStrategy(err: unknown): never {
  if (err instanceof CloudError) throw err;
  throw new CloudRuntimeError(err instanceof Error ? err.message : String(err));
}

function describe(snap: StoredVmSnapshot): string {
  return `VMSnapshot ${JSON.stringify({ uuid: snap.id, name: snap.name, displayName: snap.displayName })}`;
}

function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 100) / 100;
}

/** A job already finished by someone else: report its outcome. */
function finalResult(snap: StoredVmSnapshot): JobResult {
  if (snap.state === 'Ready') return { vmsnapshot: snap.id };
  throw new CloudRuntimeError(
    `Failed to create Instance Snapshot: [${describe(snap)}] due to: state ${snap.state}`,
  );
}

/** Without a strategy-specific reconcile, the volumes as they are now are the snapshot's record. */
function recordsFromVolumes(op: SnapshotOperation, snap: StoredVmSnapshot): TakeResult {
  const updates: VolumeUpdate[] = [];
  const facts: SnapshotFacts = {
    consistency: snap.quiesce ? 'application-consistent' : 'crash-consistent',
  };
  return {
    records: op.volumes.map((v) => ({
      volumeId: v.id,
      driver: v.driver,
      path: v.path,
      size: v.size,
      ref: snap.name,
    })),
    volumeUpdates: updates,
    facts,
  };
}
