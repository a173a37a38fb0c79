/**
 * One step of a VM snapshot policy's run (issue 13), by its phase. The scheduler
 * (src/jobs/policy-scheduler.ts) claims a slot and calls `step`; every step reads the run, acts and
 * writes the next phase with a compare-and-set, so a step that lost a race does nothing, and a run
 * whose server died is finished by whichever server steps it next (its lease ran out).
 *
 *  Pending  — check the VM: gone (Skipped), busy with another job (retried within the slot, then
 *             Skipped), at vmsnapshot.max (prune by retention: Pruning; or Skipped), else create.
 *  Pruning  — waits for the retention deletes, then back to Pending's checks (once).
 *  Creating — the snapshot and job ids were chosen and persisted before they were created: the job's
 *             final state decides Succeeded or Failed; a job or snapshot missing after a crash is
 *             created with those same ids, so a slot never gets a second snapshot.
 * A final outcome is recorded once (the CAS that writes it) with its VMSNAPSHOT.POLICY.RUN event, in
 * one transaction (a server dying between them leaves the run open, to be finished by the next step).
 */
import { randomUUID } from 'node:crypto';
import { CloudError, describeError, InvalidParameterError } from '../core/errors.ts';
import { TRANSITIONAL_STATES } from '../core/vm-snapshot-state.ts';
import { parseSchedule } from '../schedules/schedule-spec.ts';
import { nextSlotAfter } from '../schedules/slot-calendar.ts';
import type { StoredVm } from '../store/inventory-store.ts';
import type { AsyncJobRow } from '../store/schema.ts';
import { activeJobOf } from '../store/vm-job-activity.ts';
import {
  finishRun,
  type FinalRunOutcome,
  type PolicyRun,
  type PolicyRunStore,
} from '../store/vm-snapshot-policy-run-store.ts';
import {
  POLICY_RESOURCE_TYPE,
  scheduleInputOf,
  type StoredVmSnapshotPolicy,
  type VmSnapshotPolicyStore,
} from '../store/vm-snapshot-policy-store.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';
import {
  loadRetentionInput,
  planRetention,
  submitPolicyDeletes,
  toDelete,
  NEXT_SNAPSHOT_ID,
} from './policy-retention.ts';
import type { VmSnapshotManager } from './vm-snapshot-manager.ts';

export const POLICY_RUN_EVENT = 'VMSNAPSHOT.POLICY.RUN';

export interface PolicyRunOptions {
  /** This server (the runs' lease owner). */
  readonly ownerId: string;
  /** How long a step's lease lasts: after it, another server may step the run. */
  readonly leaseMs: () => number;
  /** A busy VM is tried again after this long … */
  readonly retryMs: number;
  /** … at most this many times in all (and never past the next slot). */
  readonly maxAttempts: number;
  /** How soon an in-flight run (prune or create job) is looked at again. */
  readonly pollMs: number;
}

export const DEFAULT_RUN_OPTIONS = { retryMs: 60_000, maxAttempts: 5, pollMs: 1_000 } as const;

/** A run claimed this long after its slot is reported late (the servers were down, or stalled). */
export const LATE_AFTER_MS = 120_000;

export class PolicyRunSteps {
  constructor(
    private readonly deps: ManagerDeps,
    private readonly snapshotManager: VmSnapshotManager,
    private readonly policies: VmSnapshotPolicyStore,
    private readonly runs: PolicyRunStore,
    private readonly options: PolicyRunOptions,
  ) {}

  /** Steps the run if nobody else holds its lease; returns the run as left (undefined: not ours). */
  async step(runId: string, now: number): Promise<PolicyRun | undefined> {
    const read = await this.runs.get(runId);
    if (read === undefined || read.finished !== null) return read;
    const leasedElsewhere =
      read.owner !== null && read.owner !== this.options.ownerId && (read.leaseUntil ?? 0) > now;
    if (leasedElsewhere) return undefined;
    const run = await this.runs.change(read, {
      owner: this.options.ownerId,
      leaseUntil: now + this.options.leaseMs(),
    });
    if (run === undefined) return undefined;
    const policy = await this.policies.getIncludingRemoved(run.policyId);
    if (policy === undefined || policy.removed !== null) {
      if (run.outcome !== 'Creating')
        return this.finish(run, policy, 'Skipped', 'the policy was deleted', now);
    }
    if (policy === undefined) return run;
    switch (run.outcome) {
      case 'Pending':
        return this.attempt(run, policy, now);
      case 'Pruning':
        return this.afterPrune(run, policy, now);
      case 'Creating':
        return this.followCreate(run, policy, now);
      case 'Succeeded':
      case 'Skipped':
      case 'Failed':
        // Final: the `finished` check above returned already; a row cannot be final and open.
        return run;
    }
  }

  private async attempt(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    now: number,
  ): Promise<PolicyRun | undefined> {
    const vm = await this.deps.inventory.getVm(policy.vmId);
    if (vm === undefined)
      return this.finish(run, policy, 'Skipped', `Instance ${policy.vmId} no longer exists`, now);
    const busy = await this.busyReason(vm);
    if (busy !== undefined) return this.retryOrSkip(run, policy, busy, now);
    const atLimit = await this.makeRoom(run, policy, vm, now);
    if (atLimit !== undefined) return atLimit;
    return this.create(run, policy, vm, now);
  }

  /** Why the VM cannot be snapshotted now: another job on its queue, a snapshot task, a power change. */
  private async busyReason(vm: StoredVm): Promise<string | undefined> {
    const job = await activeJobOf(this.deps.db, vm.id);
    if (job !== undefined) return `Instance busy with job ${job.id} (${job.kind}, ${job.status})`;
    const snaps = await this.deps.snapshots.listByVm(vm.id);
    const task = snaps.find((s) => TRANSITIONAL_STATES.includes(s.state));
    if (task !== undefined) return `Instance has a snapshot task in progress (${task.id} ${task.state})`;
    if (vm.state !== 'Running' && vm.state !== 'Stopped') return `Instance is ${vm.state}`;
    return undefined;
  }

  /** Busy: again after retryMs, at most maxAttempts in all and never past the next slot. */
  private async retryOrSkip(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    busy: string,
    now: number,
  ): Promise<PolicyRun | undefined> {
    const attempts = run.attempts + 1;
    const retryAt = now + this.options.retryMs;
    const nextSlot = nextSlotAfter(
      parseSchedule(scheduleInputOf(policy.schedule)),
      policy.timezone,
      run.slot,
    );
    if (attempts >= this.options.maxAttempts || retryAt >= nextSlot) {
      const counted = await this.runs.change(run, { attempts });
      if (counted === undefined) return undefined;
      return this.finish(
        counted,
        policy,
        'Skipped',
        `${busy}; gave up after ${attempts} attempt(s) in this slot`,
        now,
      );
    }
    return this.runs.change(run, {
      attempts,
      nextAttempt: retryAt,
      owner: null,
      leaseUntil: null,
      reason: `${busy}; attempt ${attempts} of ${this.options.maxAttempts}, retrying`,
    });
  }

  /**
   * A VM at vmsnapshot.max: the policy's retention (as if this slot's snapshot were taken) may free
   * room by deleting the policy's own snapshots; then the run waits for those deletes (Pruning).
   * Otherwise, or if a prune of this run already happened, the run is skipped. Undefined: room.
   */
  private async makeRoom(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    vm: StoredVm,
    now: number,
  ): Promise<PolicyRun | undefined> {
    const max = this.deps.settings.getNumber('vmsnapshot.max');
    const live = await this.deps.snapshots.listByVm(vm.id);
    if (live.length < max) return undefined;
    const input = await loadRetentionInput(this.deps, this.runs, policy);
    const drop = toDelete(planRetention({ ...input, upcomingSlot: run.slot })).filter(
      (s) => s.id !== NEXT_SNAPSHOT_ID,
    );
    const limit = `Instance has ${live.length} snapshots and vmsnapshot.max is ${max}`;
    if (run.pruneJobs.length > 0 || drop.length === 0 || live.length - drop.length >= max) {
      const why =
        run.pruneJobs.length > 0
          ? 'still at the limit after pruning'
          : drop.length === 0
            ? "the policy's retention frees none of them"
            : `the policy's retention frees only ${drop.length}`;
      return this.finish(run, policy, 'Skipped', `${limit}; ${why}`, now, 'WARN');
    }
    const jobs = await submitPolicyDeletes(this.deps, callerOf(policy), policy.id, drop);
    return this.runs.change(run, {
      outcome: 'Pruning',
      pruneJobs: jobs,
      nextAttempt: now,
      owner: null,
      leaseUntil: null,
      reason: `${limit}: deleting ${drop.length} of the policy's snapshots by its retention first`,
    });
  }

  private async afterPrune(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    now: number,
  ): Promise<PolicyRun | undefined> {
    for (const id of run.pruneJobs) {
      const job = await this.deps.jobs.get(id);
      if (job !== undefined && (job.status === 'queued' || job.status === 'running'))
        return this.later(run, now);
    }
    const back = await this.runs.change(run, { outcome: 'Pending' });
    return back === undefined ? undefined : this.attempt(back, policy, now);
  }

  /**
   * Chooses and persists the snapshot and job ids (Creating) before anything is created; then
   * allocates and queues with them. A VM that became busy in between goes back to Pending.
   */
  private async create(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    vm: StoredVm,
    now: number,
  ): Promise<PolicyRun | undefined> {
    const memory = policy.snapshotMemory && vm.state === 'Running';
    const note =
      policy.snapshotMemory && !memory
        ? 'Instance is Stopped: took a disk-only snapshot (snapshotmemory needs a Running Instance)'
        : '';
    const chosen = await this.runs.change(run, {
      outcome: 'Creating',
      snapshotId: run.snapshotId ?? randomUUID(),
      jobId: run.jobId ?? randomUUID(),
      reason: note,
    });
    if (chosen === undefined) return undefined;
    return this.allocateAndQueue(chosen, policy, vm, memory, now);
  }

  private async allocateAndQueue(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    vm: StoredVm,
    memory: boolean,
    now: number,
  ): Promise<PolicyRun | undefined> {
    try {
      await this.snapshotManager.create(callerOf(policy), {
        vmId: vm.id,
        name: policySnapshotName(policy.id, vm.displayName, run.slot),
        description: `taken by VM snapshot policy ${policy.id} for ${new Date(run.slot).toISOString()}`,
        snapshotMemory: memory,
        quiesce: policy.quiesce,
        id: run.snapshotId ?? undefined,
        jobId: run.jobId ?? undefined,
        policyId: policy.id,
      });
    } catch (err) {
      const text = describeError(err).text;
      if (err instanceof InvalidParameterError && /other active Instance Snapshot tasks/.test(text)) {
        const back = await this.runs.change(run, { outcome: 'Pending' });
        return back === undefined ? undefined : this.retryOrSkip(back, policy, text, now);
      }
      // Not a refusal (a database error, say): the run stays Creating with its ids, and its next
      // step (this server's next tick, or another's after the lease) creates what is missing.
      if (!(err instanceof CloudError)) throw err;
      return this.finish(run, policy, 'Failed', text, now, 'ERROR');
    }
    return this.later(run, now);
  }

  /** Creating: the job decides; after a crash, the missing job or snapshot is made with the same ids. */
  private async followCreate(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    now: number,
  ): Promise<PolicyRun | undefined> {
    const job = run.jobId === null ? undefined : await this.deps.jobs.get(run.jobId);
    if (job !== undefined) return this.settleCreate(run, policy, job, now);
    const vm = await this.deps.inventory.getVm(policy.vmId);
    if (vm === undefined)
      return this.finish(run, policy, 'Skipped', `Instance ${policy.vmId} no longer exists`, now);
    const snap = run.snapshotId === null ? undefined : await this.deps.snapshots.get(run.snapshotId);
    if (snap === undefined) {
      if (policy.removed !== null) return this.finish(run, policy, 'Skipped', 'the policy was deleted', now);
      return this.allocateAndQueue(run, policy, vm, policy.snapshotMemory && vm.state === 'Running', now);
    }
    // Allocated, but its server died before queueing the take: queue it now, with the chosen job id.
    await this.snapshotManager.submitCreate(callerOf(policy), snap, run.jobId ?? undefined);
    return this.later(run, now);
  }

  private async settleCreate(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy,
    job: AsyncJobRow,
    now: number,
  ): Promise<PolicyRun | undefined> {
    if (job.status === 'queued' || job.status === 'running') return this.later(run, now);
    if (job.status === 'failed') {
      const text =
        (JSON.parse(job.result ?? '{}') as { errortext?: string }).errortext ?? 'the create job failed';
      return this.finish(run, policy, 'Failed', joinReason(run.reason, text), now, 'ERROR');
    }
    const pruned = await this.pruneAfter(policy);
    const taken = `took snapshot ${run.snapshotId ?? ''}`;
    return this.finish(run, policy, 'Succeeded', joinReason(run.reason, taken, pruned), now);
  }

  /** After a snapshot: the policy's snapshots its retention no longer keeps are deleted. */
  private async pruneAfter(policy: StoredVmSnapshotPolicy): Promise<string> {
    if (policy.removed !== null) return '';
    const drop = toDelete(planRetention(await loadRetentionInput(this.deps, this.runs, policy)));
    if (drop.length === 0) return '';
    try {
      await submitPolicyDeletes(this.deps, callerOf(policy), policy.id, drop);
      return `retention deletes ${drop.length} older snapshot(s)`;
    } catch (err) {
      // The next run's retention deletes them: nothing is lost by waiting.
      return `retention could not delete ${drop.length} older snapshot(s) now: ${describeError(err).text}`;
    }
  }

  /** Looked at again soon, by whichever server steps it (the lease is let go). */
  private later(run: PolicyRun, now: number): Promise<PolicyRun | undefined> {
    return this.runs.change(run, { nextAttempt: now + this.options.pollMs, owner: null, leaseUntil: null });
  }

  /** The final outcome, written once (CAS), then its event. */
  private async finish(
    run: PolicyRun,
    policy: StoredVmSnapshotPolicy | undefined,
    outcome: FinalRunOutcome,
    reason: string,
    now: number,
    level: 'INFO' | 'WARN' | 'ERROR' = outcome === 'Succeeded' ? 'INFO' : 'WARN',
  ): Promise<PolicyRun | undefined> {
    const full = joinReason(lateNote(run), reason);
    const changes = { outcome, reason: full, finished: now, owner: null, leaseUntil: null } as const;
    if (policy === undefined) return this.runs.change(run, changes);
    // With its event, atomically: a server dying in between must not leave a final run unreported.
    return finishRun(this.deps.db, run, changes, {
      accountId: policy.accountId,
      userId: policy.userId,
      type: POLICY_RUN_EVENT,
      level,
      state: 'Completed',
      description: `VM snapshot policy ${policy.id}, slot ${new Date(run.slot).toISOString()}: ${outcome}${full === '' ? '' : `: ${full}`}`,
      resourceType: POLICY_RESOURCE_TYPE,
      resourceId: policy.id,
    });
  }
}

/** The caller a policy's work runs as: its account and the user who created it. */
export function callerOf(policy: StoredVmSnapshotPolicy): Caller {
  return { accountId: policy.accountId, accountName: '', userId: policy.userId, isAdmin: false };
}

/**
 * A policy snapshot's display name: `auto-<policy id, 8>-<VM name>-<slot, UTC>`, e.g.
 * `auto-1a2b3c4d-web-1-20261201T1000Z`. Unique per VM: one run per slot and policy.
 */
export function policySnapshotName(policyId: string, vmName: string, slot: number): string {
  const iso = new Date(slot).toISOString();
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
  return `auto-${policyId.slice(0, 8)}-${vmName.slice(0, 200)}-${stamp}`;
}

/** "late by 2h 5m" for a run claimed well after its slot (the servers were down then). */
export function lateNote(run: Pick<PolicyRun, 'lateMs'>): string {
  if (run.lateMs < LATE_AFTER_MS) return '';
  return `late by ${formatDuration(run.lateMs)} (no management server ran it at its slot)`;
}

export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const parts = [days > 0 ? `${days}d` : '', hours > 0 ? `${hours}h` : '', `${minutes % 60}m`];
  return parts.filter((p) => p !== '').join(' ');
}

function joinReason(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('; ');
}
