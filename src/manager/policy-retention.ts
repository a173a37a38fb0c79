/**
 * A policy's retention applied to a VM's snapshots (issue 13). The rule itself is pure
 * (src/schedules/retention-rule.ts); here it meets the store: a snapshot is bucketed by the slot it
 * was taken for (a late run still counts for its day), and only the policy's own snapshots in a
 * deletable state are ever deleted, through the normal delete job (state machine, VM queue).
 * Manual snapshots (policy_id null) and other policies' snapshots are never candidates for deletion.
 */
import { InvalidParameterError } from '../core/errors.ts';
import { DELETABLE_STATES, TRANSITIONAL_STATES } from '../core/vm-snapshot-state.ts';
import { decideRetention } from '../schedules/retention-rule.ts';
import type { Retention, RetentionDecision } from '../schedules/schedule-types.ts';
import type { PolicyRunStore } from '../store/vm-snapshot-policy-run-store.ts';
import type { StoredVmSnapshot } from '../store/vm-snapshot-store.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';
import { CMD, JOB_KIND } from './vm-snapshot-manager.ts';

/** A decision with the snapshot it is about (for `--dry-run` and the runner). */
export interface SnapshotDecision extends RetentionDecision {
  readonly snapshot: StoredVmSnapshot;
  /** When the rule counted it: its slot, or its creation time without one. */
  readonly countedAt: number;
}

/** The id a not-yet-taken snapshot has in a plan (a run deciding what to prune before it takes one). */
export const NEXT_SNAPSHOT_ID = '\u0000next';

export interface RetentionInput {
  readonly policyId: string;
  readonly retention: Retention;
  readonly timezone: string;
  /** The VM's live snapshots. */
  readonly snapshots: readonly StoredVmSnapshot[];
  /** Each policy snapshot's slot (PolicyRunStore.slotsBySnapshot). */
  readonly slots: ReadonlyMap<string, number>;
  /** Plan as if a snapshot of this slot were already taken (pruning to make room for it). */
  readonly upcomingSlot?: number;
}

/** Decisions for the policy's own snapshots only, newest first; never a manual one. */
export function planRetention(input: RetentionInput): SnapshotDecision[] {
  const byId = new Map(input.snapshots.map((s) => [s.id, s]));
  const counted = (s: StoredVmSnapshot): number => input.slots.get(s.id) ?? s.createdAt;
  const candidates = input.snapshots
    // An Allocated or Creating row is not a snapshot yet: never counted, never deleted.
    .filter((s) => s.state === 'Ready' || s.state === 'Error')
    .map((s) => ({ id: s.id, created: counted(s), policyId: s.policyId }));
  if (input.upcomingSlot !== undefined) {
    candidates.push({ id: NEXT_SNAPSHOT_ID, created: input.upcomingSlot, policyId: input.policyId });
  }
  const out: SnapshotDecision[] = [];
  for (const d of decideRetention(candidates, input.retention, input.policyId, input.timezone)) {
    const snapshot = byId.get(d.id);
    // Belt and braces: the pure rule decides only for the policy's snapshots, and so does this.
    if (snapshot === undefined || snapshot.policyId !== input.policyId) continue;
    out.push({ ...d, snapshot, countedAt: counted(snapshot) });
  }
  return out;
}

/** The snapshots a plan deletes: the policy's, not kept, in a state a delete accepts. */
export function toDelete(plan: readonly SnapshotDecision[]): StoredVmSnapshot[] {
  return plan.filter((d) => !d.keep && DELETABLE_STATES.includes(d.snapshot.state)).map((d) => d.snapshot);
}

/** Reads what planRetention needs for one VM and policy. */
export async function loadRetentionInput(
  deps: Pick<ManagerDeps, 'snapshots'>,
  runs: PolicyRunStore,
  policy: { id: string; vmId: string; retention: Retention; timezone: string },
): Promise<RetentionInput> {
  return {
    policyId: policy.id,
    retention: policy.retention,
    timezone: policy.timezone,
    snapshots: await deps.snapshots.listByVm(policy.vmId),
    slots: await runs.slotsBySnapshot(policy.id),
  };
}

/**
 * Queues the delete job of each snapshot, as deleteVMSnapshot does (same job kind, command and
 * payload; the worker re-checks the state machine). Checked once for the whole batch, before any
 * is queued: the caller may delete each one, each is the policy's and deletable, and no other task
 * runs on the VM. Returns the job ids.
 */
export async function submitPolicyDeletes(
  deps: Pick<ManagerDeps, 'jobs' | 'snapshots'>,
  caller: Caller,
  policyId: string,
  snaps: readonly StoredVmSnapshot[],
): Promise<string[]> {
  for (const s of snaps) {
    if (s.policyId !== policyId || (!caller.isAdmin && s.accountId !== caller.accountId)) {
      throw new InvalidParameterError(`Unable to find the Instance Snapshot with id ${s.id}`);
    }
  }
  const jobs: string[] = [];
  for (const vmId of new Set(snaps.map((s) => s.vmId))) {
    const siblings = await deps.snapshots.listByVm(vmId);
    if (siblings.some((s) => TRANSITIONAL_STATES.includes(s.state))) {
      throw new InvalidParameterError(
        'There are other active Instance Snapshot tasks on the Instance, please try again later',
      );
    }
  }
  for (const s of snaps) {
    jobs.push(
      await deps.jobs.submit({
        kind: JOB_KIND.delete,
        queueKey: s.vmId,
        accountId: caller.accountId,
        userId: caller.userId,
        cmd: CMD.delete,
        instanceType: 'VmSnapshot',
        instanceId: s.id,
        payload: { snapshotId: s.id, vmId: s.vmId },
      }),
    );
  }
  return jobs;
}
