/**
 * The timer of VM snapshot policies (issue 13). Every management server ticks; a tick claims each
 * policy's latest due slot by inserting its run row (UNIQUE (policy_id, slot): exactly one server
 * ever wins a slot, across restarts and servers), then steps every unfinished run that is due.
 *
 * Only the latest slot at or before now is claimed: after downtime, the missed slots collapse into
 * one run, reported late by how much (src/manager/policy-run-steps.ts). A slot before the policy
 * existed is never claimed. Time comes from `clock` (tests drive it; nothing here sleeps).
 */
import type { Logger } from '../core/plugin-api.ts';
import { parseSchedule } from '../schedules/schedule-spec.ts';
import { latestSlotAtOrBefore } from '../schedules/slot-calendar.ts';
import type { PolicyRunStore } from '../store/vm-snapshot-policy-run-store.ts';
import {
  scheduleInputOf,
  type StoredVmSnapshotPolicy,
  type VmSnapshotPolicyStore,
} from '../store/vm-snapshot-policy-store.ts';

/** Steps one run (the manager's PolicyRunSteps). */
export interface RunStepper {
  step(runId: string, now: number): Promise<unknown>;
}

export interface PolicySchedulerOptions {
  readonly policies: VmSnapshotPolicyStore;
  readonly runs: PolicyRunStore;
  readonly stepper: RunStepper;
  readonly ownerId: string;
  readonly leaseMs: () => number;
  readonly log: Logger;
  readonly clock?: () => number;
  readonly intervalMs?: number;
}

/** What one tick did (tests, logs). */
export interface TickReport {
  readonly claimed: number;
  readonly stepped: number;
}

export class PolicyScheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;
  private readonly clock: () => number;

  constructor(private readonly options: PolicySchedulerOptions) {
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.ticking !== undefined) return;
      this.ticking = this.tick()
        .catch((err: unknown) => this.options.log.warn({ err }, 'VM snapshot policy tick failed'))
        .finally(() => (this.ticking = undefined));
    }, this.options.intervalMs ?? 30_000);
  }

  /** Stops the timer and waits for a tick in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** Claims due slots, then steps the due runs (those this server just claimed among them). */
  async tick(now = this.clock()): Promise<TickReport> {
    let claimed = 0;
    for (const policy of await this.options.policies.listLive()) {
      if (await this.claimDue(policy, now).catch((err: unknown) => this.failed(err, policy.id))) claimed++;
    }
    let stepped = 0;
    for (const run of await this.options.runs.listDue(now)) {
      await this.options.stepper
        .step(run.id, now)
        .then(() => stepped++)
        .catch((err: unknown) => this.failed(err, run.policyId));
    }
    return { claimed, stepped };
  }

  /** Claims the policy's latest slot at or before now, if not claimed yet: true when this server won it. */
  private async claimDue(policy: StoredVmSnapshotPolicy, now: number): Promise<boolean> {
    const spec = parseSchedule(scheduleInputOf(policy.schedule));
    const slot = latestSlotAtOrBefore(spec, policy.timezone, now);
    if (slot === undefined || slot < policy.created) return false;
    if (policy.lastSlot !== null && slot <= policy.lastSlot) return false;
    const run = await this.options.runs.claim({
      policyId: policy.id,
      slot,
      now,
      lateMs: now - slot,
      owner: this.options.ownerId,
      leaseMs: this.options.leaseMs(),
    });
    return run !== undefined;
  }

  private failed(err: unknown, policyId: string): false {
    this.options.log.warn({ err, policy: policyId }, 'VM snapshot policy run step failed');
    return false;
  }
}
