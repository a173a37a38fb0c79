/**
 * The runs of VM snapshot policies (issue 13). A run is claimed by inserting its (policy, slot)
 * row: UNIQUE (policy_id, slot) lets exactly one insert in, whichever server and whenever (a
 * restart, a second server), on SQLite and PostgreSQL alike (`ON CONFLICT DO NOTHING`). The row
 * then carries the run through its phases; every change is a compare-and-set on `update_count`, and
 * a phase is acted on only by the server holding the run's lease, so a server that died mid-run is
 * replaced by one that reads what it had already chosen (the snapshot and job ids) and goes on.
 */
import { randomUUID } from 'node:crypto';
import type { Selectable, Updateable } from 'kysely';
import type { Db } from './database.ts';
import { EventStore, type NewEvent } from './event-store.ts';
import type { VmSnapshotPolicyRunTable } from './schema.ts';

/** In flight: claimed, deleting to make room, or taking the snapshot. */
export type OpenRunOutcome = 'Pending' | 'Pruning' | 'Creating';
/** Final. */
export type FinalRunOutcome = 'Succeeded' | 'Skipped' | 'Failed';
export type RunOutcome = OpenRunOutcome | FinalRunOutcome;

export interface PolicyRun {
  readonly id: string;
  readonly policyId: string;
  readonly slot: number;
  readonly outcome: RunOutcome;
  readonly reason: string;
  readonly lateMs: number;
  readonly attempts: number;
  readonly nextAttempt: number;
  readonly owner: string | null;
  readonly leaseUntil: number | null;
  readonly snapshotId: string | null;
  readonly jobId: string | null;
  readonly pruneJobs: readonly string[];
  readonly updateCount: number;
  readonly started: number;
  readonly finished: number | null;
}

/** What a step may change on a run. */
export type RunChanges = Partial<
  Pick<
    PolicyRun,
    | 'outcome'
    | 'reason'
    | 'attempts'
    | 'nextAttempt'
    | 'owner'
    | 'leaseUntil'
    | 'snapshotId'
    | 'jobId'
    | 'pruneJobs'
    | 'finished'
  >
>;

type RunRow = Selectable<VmSnapshotPolicyRunTable>;

export class PolicyRunStore {
  constructor(private readonly db: Db) {}

  /**
   * Claims (policy, slot) for `owner`: the new run, or undefined when the slot was already claimed
   * (by anyone, ever). One statement, no transaction: nothing is held while another server claims.
   * The policy's `last_slot` (a cheap pre-check for the next tick) follows, written idempotently
   * whether this server won or lost, so a crash in between only costs one more losing insert.
   */
  async claim(c: {
    policyId: string;
    slot: number;
    now: number;
    lateMs: number;
    owner: string;
    leaseMs: number;
  }): Promise<PolicyRun | undefined> {
    const row = await this.db
      .insertInto('vm_snapshot_policy_runs')
      .values({
        id: randomUUID(),
        policy_id: c.policyId,
        slot: c.slot,
        outcome: 'Pending',
        reason: '',
        late_ms: c.lateMs,
        attempts: 0,
        next_attempt: c.now,
        owner: c.owner,
        lease_until: c.now + c.leaseMs,
        snapshot_id: null,
        job_id: null,
        prune_jobs: '[]',
        update_count: 0,
        started: c.now,
        finished: null,
      })
      .onConflict((oc) => oc.columns(['policy_id', 'slot']).doNothing())
      .returningAll()
      .executeTakeFirst();
    await this.db
      .updateTable('vm_snapshot_policies')
      .set({
        last_slot: c.slot,
        ...(row === undefined
          ? {}
          : { last_run_started: c.now, last_run_outcome: 'Pending', last_run_reason: '' }),
      })
      .where('id', '=', c.policyId)
      .where((eb) => eb.or([eb('last_slot', 'is', null), eb('last_slot', '<', c.slot)]))
      .execute();
    return row === undefined ? undefined : runFromRow(row);
  }

  async get(id: string): Promise<PolicyRun | undefined> {
    const row = await this.db
      .selectFrom('vm_snapshot_policy_runs')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : runFromRow(row);
  }

  /** Unfinished runs whose next step is due (their lease is checked by `change`'s caller). */
  async listDue(now: number): Promise<PolicyRun[]> {
    const rows = await this.db
      .selectFrom('vm_snapshot_policy_runs')
      .selectAll()
      .where('finished', 'is', null)
      .where('next_attempt', '<=', now)
      .orderBy('next_attempt')
      .orderBy('id')
      .execute();
    return rows.map(runFromRow);
  }

  async listByPolicy(policyId: string): Promise<PolicyRun[]> {
    const rows = await this.db
      .selectFrom('vm_snapshot_policy_runs')
      .selectAll()
      .where('policy_id', '=', policyId)
      .orderBy('slot')
      .execute();
    return rows.map(runFromRow);
  }

  /** The slot each of a policy's snapshots was taken for (retention buckets by it). */
  async slotsBySnapshot(policyId: string): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('vm_snapshot_policy_runs')
      .select(['snapshot_id', 'slot'])
      .where('policy_id', '=', policyId)
      .where('snapshot_id', 'is not', null)
      .execute();
    return new Map(rows.map((r) => [r.snapshot_id ?? '', Number(r.slot)]));
  }

  /**
   * Compare-and-set: applies `changes` if nobody changed the run since `run` was read. The new run,
   * or undefined when another server got there first. Its outcome and reason are then copied to
   * the policy (its last run), by the server that won the change.
   */
  async change(run: PolicyRun, changes: RunChanges): Promise<PolicyRun | undefined> {
    const row = await this.db
      .updateTable('vm_snapshot_policy_runs')
      .set({ ...columnsOf(changes), update_count: run.updateCount + 1 })
      .where('id', '=', run.id)
      .where('update_count', '=', run.updateCount)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const next = runFromRow(row);
    if (next.outcome !== run.outcome || changes.reason !== undefined) {
      await this.db
        .updateTable('vm_snapshot_policies')
        .set({ last_run_outcome: next.outcome, last_run_reason: next.reason })
        .where('id', '=', run.policyId)
        .where('last_slot', '=', run.slot)
        .execute();
    }
    return next;
  }
}

/**
 * A run's final change and its event (VMSNAPSHOT.POLICY.RUN), in one transaction: a server that
 * dies between the two leaves neither, so the run stays open and the next step (this server's, or
 * another's once the lease ran out) finishes it and records the event. Never a final run without
 * its event, which no step would ever write. Undefined when the compare-and-set lost.
 */
export async function finishRun(
  db: Db,
  run: PolicyRun,
  changes: RunChanges & { readonly finished: number },
  event: NewEvent,
): Promise<PolicyRun | undefined> {
  return db.transaction().execute(async (trx) => {
    const done = await new PolicyRunStore(trx).change(run, changes);
    if (done !== undefined) await new EventStore(trx).record(event);
    return done;
  });
}

function columnsOf(c: RunChanges): Updateable<VmSnapshotPolicyRunTable> {
  const out: Updateable<VmSnapshotPolicyRunTable> = {};
  if (c.outcome !== undefined) out.outcome = c.outcome;
  if (c.reason !== undefined) out.reason = c.reason;
  if (c.attempts !== undefined) out.attempts = c.attempts;
  if (c.nextAttempt !== undefined) out.next_attempt = c.nextAttempt;
  if (c.owner !== undefined) out.owner = c.owner;
  if (c.leaseUntil !== undefined) out.lease_until = c.leaseUntil;
  if (c.snapshotId !== undefined) out.snapshot_id = c.snapshotId;
  if (c.jobId !== undefined) out.job_id = c.jobId;
  if (c.pruneJobs !== undefined) out.prune_jobs = JSON.stringify(c.pruneJobs);
  if (c.finished !== undefined) out.finished = c.finished;
  return out;
}

function runFromRow(r: RunRow): PolicyRun {
  const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
  return {
    id: r.id,
    policyId: r.policy_id,
    slot: Number(r.slot),
    outcome: r.outcome as RunOutcome,
    reason: r.reason,
    lateMs: Number(r.late_ms),
    attempts: r.attempts,
    nextAttempt: Number(r.next_attempt),
    owner: r.owner,
    leaseUntil: num(r.lease_until),
    snapshotId: r.snapshot_id,
    jobId: r.job_id,
    pruneJobs: JSON.parse(r.prune_jobs) as string[],
    updateCount: r.update_count,
    started: Number(r.started),
    finished: num(r.finished),
  };
}
