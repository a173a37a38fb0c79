/**
 * VM snapshot policies (issue 13): createVMSnapshotPolicy, updateVMSnapshotPolicy,
 * deleteVMSnapshotPolicies and the retention preview, with CloudStack's checks and 431 wording
 * (SnapshotManagerImpl.createPolicy) where CloudStack has one. Access is checked as each object is
 * loaded (./access.ts): another tenant's VM or policy fails like a missing one.
 */
import { randomUUID } from 'node:crypto';
import { InvalidParameterError } from '../core/errors.ts';
import { DELETABLE_STATES } from '../core/vm-snapshot-state.ts';
import { isValidTimeZone, parseSchedule } from '../schedules/schedule-spec.ts';
import { nextSlotAfter } from '../schedules/slot-calendar.ts';
import type { Retention, ScheduleSpec } from '../schedules/schedule-types.ts';
import { ROOT_DOMAIN_ID } from '../store/account-store.ts';
import { addTags, checkTagRequest } from '../store/tag-store.ts';
import type { PolicyRunStore } from '../store/vm-snapshot-policy-run-store.ts';
import {
  POLICY_RESOURCE_TYPE,
  scheduleInputOf,
  type PolicyChanges,
  type PolicySchedule,
  type StoredVmSnapshotPolicy,
  type VmSnapshotPolicyStore,
} from '../store/vm-snapshot-policy-store.ts';
import { loadOwned } from './access.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';
import {
  loadRetentionInput,
  planRetention,
  submitPolicyDeletes,
  type SnapshotDecision,
} from './policy-retention.ts';

/** Retention as the API takes it: `maxsnaps`, or any of the keep-* levels. */
export interface RetentionParams {
  readonly maxsnaps?: number | undefined;
  readonly keephourly?: number | undefined;
  readonly keepdaily?: number | undefined;
  readonly keepweekly?: number | undefined;
  readonly keepmonthly?: number | undefined;
  readonly keepyearly?: number | undefined;
}

export interface ScheduleParams {
  readonly intervaltype?: string | undefined;
  readonly schedule?: string | undefined;
  readonly cron?: string | undefined;
}

export interface CreatePolicyRequest extends RetentionParams, ScheduleParams {
  readonly vmId: string;
  readonly timezone: string;
  readonly snapshotMemory?: boolean | undefined;
  readonly quiesce?: boolean | undefined;
  readonly description?: string | undefined;
  readonly tags?: readonly { key: string; value: string }[] | undefined;
}

export interface UpdatePolicyRequest extends RetentionParams, ScheduleParams {
  readonly id: string;
  readonly timezone?: string | undefined;
  readonly snapshotMemory?: boolean | undefined;
  readonly quiesce?: boolean | undefined;
  readonly description?: string | undefined;
}

/** What a retention preview (`--dry-run`) shows. */
export interface RetentionPreview {
  readonly spec: ScheduleSpec | undefined;
  readonly timezone: string | undefined;
  /** The next few slots, epoch ms. */
  readonly nextRuns: readonly number[];
  readonly decisions: readonly SnapshotDecision[];
}

const KEEP_LEVELS = ['keephourly', 'keepdaily', 'keepweekly', 'keepmonthly', 'keepyearly'] as const;

export class VmSnapshotPolicyManager {
  constructor(
    private readonly deps: ManagerDeps,
    private readonly policies: VmSnapshotPolicyStore,
    private readonly runs: PolicyRunStore,
  ) {}

  async create(caller: Caller, req: CreatePolicyRequest): Promise<StoredVmSnapshotPolicy> {
    const vm = await loadOwned(
      caller,
      () => this.deps.inventory.getVm(req.vmId),
      () => new InvalidParameterError(`Unable to find Instance by id ${req.vmId}`),
    );
    const spec = parseSchedule(req);
    checkTimeZone(req.timezone);
    const retention = this.parseRetention(req, true);
    if (retention === undefined) throw new Error('unreachable: retention is required');
    checkDescription(req.description);
    const tags = req.tags ?? [];
    checkTagRequest(tags, 1);
    const now = Date.now();
    const policy = await this.policies.insert({
      id: randomUUID(),
      vmId: vm.id,
      accountId: vm.accountId,
      domainId: ROOT_DOMAIN_ID,
      userId: caller.userId,
      schedule: scheduleOf(spec),
      timezone: req.timezone,
      retention,
      snapshotMemory: req.snapshotMemory ?? false,
      quiesce: req.quiesce ?? false,
      description: req.description ?? '',
      created: now,
    });
    if (tags.length > 0) {
      await addTags(this.deps.db, {
        resourceType: POLICY_RESOURCE_TYPE,
        resources: [{ id: policy.id, owner: policy.accountId }],
        tags,
        now,
      });
    }
    await this.event(caller, policy, 'VMSNAPSHOT.POLICY.CREATE', `created VM snapshot policy ${policy.id}`);
    return policy;
  }

  async update(caller: Caller, req: UpdatePolicyRequest): Promise<StoredVmSnapshotPolicy> {
    const policy = await this.load(caller, req.id);
    const changes: { -readonly [K in keyof PolicyChanges]: PolicyChanges[K] } = {};
    if (req.cron !== undefined || req.intervaltype !== undefined || req.schedule !== undefined) {
      const merged =
        req.cron !== undefined
          ? { cron: req.cron }
          : {
              intervaltype: req.intervaltype ?? intervalOf(policy.schedule),
              schedule: req.schedule ?? scheduleTextOf(policy.schedule),
            };
      changes.schedule = scheduleOf(parseSchedule(merged));
    }
    if (req.timezone !== undefined) {
      checkTimeZone(req.timezone);
      changes.timezone = req.timezone;
    }
    const retention = this.parseRetention(req, false);
    if (retention !== undefined) changes.retention = retention;
    if (req.snapshotMemory !== undefined) changes.snapshotMemory = req.snapshotMemory;
    if (req.quiesce !== undefined) changes.quiesce = req.quiesce;
    if (req.description !== undefined) {
      checkDescription(req.description);
      changes.description = req.description;
    }
    const updated = await this.policies.update(policy.id, changes, Date.now());
    if (updated === undefined) throw policyNotFound(req.id);
    await this.event(caller, updated, 'VMSNAPSHOT.POLICY.UPDATE', `updated VM snapshot policy ${policy.id}`);
    return updated;
  }

  /**
   * deleteVMSnapshotPolicies: every id is checked before any is deleted. Its snapshots stay unless
   * `deleteSnapshots`; then the deletable ones are deleted through the normal delete job.
   */
  async delete(caller: Caller, ids: readonly string[], deleteSnapshots: boolean): Promise<string[]> {
    const loaded: StoredVmSnapshotPolicy[] = [];
    for (const id of ids) loaded.push(await this.load(caller, id));
    const jobs: string[] = [];
    for (const policy of loaded) {
      if (deleteSnapshots) {
        const own = (await this.deps.snapshots.listByVm(policy.vmId)).filter(
          (s) => s.policyId === policy.id && DELETABLE_STATES.includes(s.state),
        );
        jobs.push(...(await submitPolicyDeletes(this.deps, caller, policy.id, own)));
      }
      await this.policies.remove(policy.id, Date.now());
      await this.event(caller, policy, 'VMSNAPSHOT.POLICY.DELETE', `deleted VM snapshot policy ${policy.id}`);
    }
    return jobs;
  }

  /**
   * What retention would keep or delete now, and why (`--dry-run`): of an existing policy (`id`),
   * optionally with other retention or schedule parameters, or of a policy not created yet
   * (`vmId`: none of the VM's snapshots is its, so every one is untouched).
   */
  async preview(
    caller: Caller,
    req: RetentionParams & ScheduleParams & { id?: string; vmId?: string; timezone?: string },
    now = Date.now(),
  ): Promise<RetentionPreview> {
    const policy = req.id !== undefined ? await this.load(caller, req.id) : undefined;
    const vmId = policy?.vmId ?? req.vmId;
    if (vmId === undefined)
      throw new InvalidParameterError('Either id or virtualmachineid must be specified');
    await loadOwned(
      caller,
      () => this.deps.inventory.getVm(vmId),
      () => new InvalidParameterError(`Unable to find Instance by id ${vmId}`),
    );
    const timezone = req.timezone ?? policy?.timezone;
    if (timezone !== undefined) checkTimeZone(timezone);
    const scheduleGiven =
      req.cron !== undefined || req.intervaltype !== undefined || req.schedule !== undefined;
    const spec = scheduleGiven
      ? parseSchedule(req)
      : policy !== undefined
        ? parseSchedule(scheduleInputOf(policy.schedule))
        : undefined;
    const retention = this.parseRetention(req, policy === undefined) ?? policy?.retention;
    const nextRuns = spec !== undefined && timezone !== undefined ? upcoming(spec, timezone, now, 5) : [];
    if (retention === undefined) return { spec, timezone, nextRuns, decisions: [] };
    const input = await loadRetentionInput(this.deps, this.runs, {
      id: policy?.id ?? NO_POLICY,
      vmId,
      retention,
      timezone: timezone ?? 'UTC',
    });
    return { spec, timezone, nextRuns, decisions: planRetention(input) };
  }

  async load(caller: Caller, id: string): Promise<StoredVmSnapshotPolicy> {
    return loadOwned(
      caller,
      () => this.policies.get(id),
      () => policyNotFound(id),
    );
  }

  /**
   * maxsnaps (CloudStack: "maxSnaps should be greater than 0", at most vmsnapshot.max) or the
   * keep-* levels (each at least 0, one above 0), never both. Undefined when none is given and
   * none is required (an update that keeps the retention).
   */
  private parseRetention(p: RetentionParams, requiredNow: boolean): Retention | undefined {
    const levelsGiven = KEEP_LEVELS.filter((k) => p[k] !== undefined);
    if (p.maxsnaps !== undefined && levelsGiven.length > 0) {
      throw new InvalidParameterError(
        `Specify either maxsnaps or ${KEEP_LEVELS.join('/')}, not both (maxsnaps and ${levelsGiven.join(', ')} given)`,
      );
    }
    if (p.maxsnaps !== undefined) {
      if (p.maxsnaps <= 0) throw new InvalidParameterError('maxSnaps should be greater than 0');
      const limit = this.deps.settings.getNumber('vmsnapshot.max');
      if (p.maxsnaps > limit) {
        throw new InvalidParameterError(`maxSnaps exceeds limit: ${limit} (vmsnapshot.max) for an Instance`);
      }
      return { kind: 'maxsnaps', maxsnaps: p.maxsnaps };
    }
    if (levelsGiven.length === 0) {
      if (!requiredNow) return undefined;
      throw new InvalidParameterError(
        `Either maxsnaps or one of ${KEEP_LEVELS.join(', ')} must be specified`,
      );
    }
    for (const k of levelsGiven) {
      if ((p[k] ?? 0) < 0) throw new InvalidParameterError(`${k} should be 0 or greater, got ${p[k]}`);
    }
    const level = (k: (typeof KEEP_LEVELS)[number]): number => p[k] ?? 0;
    if (KEEP_LEVELS.every((k) => level(k) === 0)) {
      throw new InvalidParameterError(`At least one of ${KEEP_LEVELS.join(', ')} should be greater than 0`);
    }
    return {
      kind: 'levels',
      keephourly: level('keephourly'),
      keepdaily: level('keepdaily'),
      keepweekly: level('keepweekly'),
      keepmonthly: level('keepmonthly'),
      keepyearly: level('keepyearly'),
    };
  }

  private async event(
    caller: Caller,
    policy: StoredVmSnapshotPolicy,
    type: string,
    description: string,
  ): Promise<void> {
    await this.deps.events.record({
      accountId: policy.accountId,
      userId: caller.userId,
      type,
      state: 'Completed',
      description,
      resourceType: POLICY_RESOURCE_TYPE,
      resourceId: policy.id,
    });
  }
}

/** A policy id no snapshot carries (a preview before the policy exists). */
const NO_POLICY = '-';

export function policyNotFound(id: string): InvalidParameterError {
  return new InvalidParameterError(`Unable to find VM snapshot policy with id ${id}`);
}

function checkTimeZone(tz: string): void {
  if (!isValidTimeZone(tz)) {
    throw new InvalidParameterError(
      `Invalid timezone: ${tz}; use an IANA zone name such as UTC, Europe/Berlin or America/New_York`,
    );
  }
}

function checkDescription(d: string | undefined): void {
  if (d !== undefined && d.length > 255) {
    throw new InvalidParameterError('description should not exceed 255 characters');
  }
}

/** The next `n` slots after `now`. */
export function upcoming(spec: ScheduleSpec, timezone: string, now: number, n: number): number[] {
  const out: number[] = [];
  let at = now;
  for (let i = 0; i < n; i++) {
    at = nextSlotAfter(spec, timezone, at);
    out.push(at);
  }
  return out;
}

export function scheduleOf(spec: ScheduleSpec): PolicySchedule {
  return spec.kind === 'cron'
    ? { kind: 'cron', cron: spec.expression }
    : { kind: 'interval', intervalType: spec.intervalType, schedule: spec.schedule };
}

function intervalOf(s: PolicySchedule): string | undefined {
  return s.kind === 'interval' ? s.intervalType : undefined;
}

function scheduleTextOf(s: PolicySchedule): string | undefined {
  return s.kind === 'interval' ? s.schedule : undefined;
}
