/**
 * VM snapshot policies (issue 13): a VM's schedule and retention, read and written here; listed
 * and paged in SQL, scoped to an account like every list. Soft-removed, as CloudStack's policies.
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import type { IntervalType, Retention } from '../schedules/schedule-types.ts';
import type { Db } from './database.ts';
import {
  readQueryPage,
  tagMatchesAnyPair,
  whereKeyword,
  type PageRequest,
  type PageResult,
} from './list-page.ts';
import type { Database, VmSnapshotPolicyTable } from './schema.ts';
import type { Selectable, Updateable } from 'kysely';

/** The resource type of a policy's tags (resource_tags.resource_type). */
export const POLICY_RESOURCE_TYPE = 'VMSnapshotPolicy';

/** A schedule as the caller gave it: CloudStack's intervaltype + schedule, or a cron expression. */
export type PolicySchedule =
  | { readonly kind: 'interval'; readonly intervalType: IntervalType; readonly schedule: string }
  | { readonly kind: 'cron'; readonly cron: string };

/** A stored schedule as parseSchedule's input (src/schedules/schedule-spec.ts). */
export function scheduleInputOf(s: PolicySchedule): {
  intervaltype?: string;
  schedule?: string;
  cron?: string;
} {
  return s.kind === 'cron' ? { cron: s.cron } : { intervaltype: s.intervalType, schedule: s.schedule };
}

export interface StoredVmSnapshotPolicy {
  readonly id: string;
  readonly vmId: string;
  readonly accountId: string;
  readonly domainId: string;
  /** The user the policy's jobs run as. */
  readonly userId: string;
  readonly schedule: PolicySchedule;
  readonly timezone: string;
  readonly retention: Retention;
  readonly snapshotMemory: boolean;
  readonly quiesce: boolean;
  readonly description: string;
  readonly created: number;
  readonly updated: number;
  readonly removed: number | null;
  /** The newest slot claimed, epoch ms. */
  readonly lastSlot: number | null;
  readonly lastRunStarted: number | null;
  readonly lastRunOutcome: string | null;
  readonly lastRunReason: string | null;
}

export type NewVmSnapshotPolicy = Pick<
  StoredVmSnapshotPolicy,
  | 'id'
  | 'vmId'
  | 'accountId'
  | 'domainId'
  | 'userId'
  | 'schedule'
  | 'timezone'
  | 'retention'
  | 'snapshotMemory'
  | 'quiesce'
  | 'description'
  | 'created'
>;

/** What updateVMSnapshotPolicy may change. */
export type PolicyChanges = Partial<
  Pick<
    StoredVmSnapshotPolicy,
    'schedule' | 'timezone' | 'retention' | 'snapshotMemory' | 'quiesce' | 'description'
  >
>;

export interface PolicyListFilter {
  readonly ids?: readonly string[] | undefined;
  readonly vmId?: string | undefined;
  /** Only this account's policies; null: every account's. */
  readonly accountId: string | null;
  readonly keyword?: string | undefined;
  readonly tags?: readonly { key: string; value: string }[] | undefined;
}

type PolicyRow = Selectable<VmSnapshotPolicyTable>;
type PolicyQuery = SelectQueryBuilder<Database, 'vm_snapshot_policies', object>;

export class VmSnapshotPolicyStore {
  constructor(private readonly db: Db) {}

  async insert(p: NewVmSnapshotPolicy): Promise<StoredVmSnapshotPolicy> {
    const row: PolicyRow = {
      id: p.id,
      vm_id: p.vmId,
      account_id: p.accountId,
      domain_id: p.domainId,
      user_id: p.userId,
      ...scheduleColumns(p.schedule),
      timezone: p.timezone,
      ...retentionColumns(p.retention),
      snapshot_memory: p.snapshotMemory ? 1 : 0,
      quiesce: p.quiesce ? 1 : 0,
      description: p.description,
      created: p.created,
      updated: p.created,
      removed: null,
      last_slot: null,
      last_run_started: null,
      last_run_outcome: null,
      last_run_reason: null,
    };
    await this.db.insertInto('vm_snapshot_policies').values(row).execute();
    return policyFromRow(row);
  }

  async get(id: string): Promise<StoredVmSnapshotPolicy | undefined> {
    const row = await this.db
      .selectFrom('vm_snapshot_policies')
      .selectAll()
      .where('id', '=', id)
      .where('removed', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : policyFromRow(row);
  }

  /** A policy, removed or not (a run in flight still reads its deleted policy). */
  async getIncludingRemoved(id: string): Promise<StoredVmSnapshotPolicy | undefined> {
    const row = await this.db
      .selectFrom('vm_snapshot_policies')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : policyFromRow(row);
  }

  /** Every live policy (the scheduler's round; policies are few next to snapshots). */
  async listLive(): Promise<StoredVmSnapshotPolicy[]> {
    const rows = await this.db
      .selectFrom('vm_snapshot_policies')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .orderBy('id')
      .execute();
    return rows.map(policyFromRow);
  }

  async listByVm(vmId: string): Promise<StoredVmSnapshotPolicy[]> {
    const rows = await this.db
      .selectFrom('vm_snapshot_policies')
      .selectAll()
      .where('vm_id', '=', vmId)
      .where('removed', 'is', null)
      .execute();
    return rows.map(policyFromRow);
  }

  async update(id: string, changes: PolicyChanges, now: number): Promise<StoredVmSnapshotPolicy | undefined> {
    const set: Updateable<VmSnapshotPolicyTable> = { updated: now };
    if (changes.schedule !== undefined) Object.assign(set, scheduleColumns(changes.schedule));
    if (changes.retention !== undefined) Object.assign(set, retentionColumns(changes.retention));
    if (changes.timezone !== undefined) set.timezone = changes.timezone;
    if (changes.snapshotMemory !== undefined) set.snapshot_memory = changes.snapshotMemory ? 1 : 0;
    if (changes.quiesce !== undefined) set.quiesce = changes.quiesce ? 1 : 0;
    if (changes.description !== undefined) set.description = changes.description;
    await this.db
      .updateTable('vm_snapshot_policies')
      .set(set)
      .where('id', '=', id)
      .where('removed', 'is', null)
      .execute();
    return this.get(id);
  }

  /** Soft-removes the policy and its tags; its runs stay (history). */
  async remove(id: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('vm_snapshot_policies')
        .set({ removed: now, updated: now })
        .where('id', '=', id)
        .where('removed', 'is', null)
        .execute();
      await trx
        .deleteFrom('resource_tags')
        .where('resource_type', '=', POLICY_RESOURCE_TYPE)
        .where('resource_id', '=', id)
        .execute();
    });
  }

  /** One page of live policies, oldest first, and how many matched. */
  async listPage(filter: PolicyListFilter, page: PageRequest): Promise<PageResult<StoredVmSnapshotPolicy>> {
    const result = await readQueryPage(
      whereFilter(this.db.selectFrom('vm_snapshot_policies'), filter),
      (q) => q.selectAll().orderBy('created').orderBy('id'),
      page,
    );
    return { rows: result.rows.map(policyFromRow), total: result.total };
  }
}

/** The account owning a live policy (createTags / deleteTags on a VMSnapshotPolicy). */
export async function policyOwner(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('vm_snapshot_policies')
    .select('account_id')
    .where('id', '=', id)
    .where('removed', 'is', null)
    .executeTakeFirst();
  return row?.account_id;
}

function whereFilter(q: PolicyQuery, f: PolicyListFilter): PolicyQuery {
  let out = q.where('removed', 'is', null);
  if (f.ids !== undefined) out = out.where('id', 'in', f.ids.length > 0 ? [...f.ids] : ['-']);
  if (f.vmId !== undefined) out = out.where('vm_id', '=', f.vmId);
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  out = whereKeyword(out, f.keyword, ['description', 'schedule', 'cron', 'interval_type', 'timezone']);
  const tags = f.tags ?? [];
  if (tags.length > 0) {
    out = out.where((eb) =>
      eb.exists(
        eb
          .selectFrom('resource_tags as t')
          .select(sql`1`.as('one'))
          .where('t.resource_type', '=', POLICY_RESOURCE_TYPE)
          .whereRef('t.resource_id', '=', 'vm_snapshot_policies.id')
          .where(tagMatchesAnyPair(tags)),
      ),
    );
  }
  return out;
}

function scheduleColumns(
  s: PolicySchedule,
): Pick<PolicyRow, 'schedule_kind' | 'interval_type' | 'schedule' | 'cron'> {
  return s.kind === 'interval'
    ? { schedule_kind: 'interval', interval_type: s.intervalType, schedule: s.schedule, cron: null }
    : { schedule_kind: 'cron', interval_type: null, schedule: null, cron: s.cron };
}

function retentionColumns(
  r: Retention,
): Pick<
  PolicyRow,
  'maxsnaps' | 'keep_hourly' | 'keep_daily' | 'keep_weekly' | 'keep_monthly' | 'keep_yearly'
> {
  if (r.kind === 'maxsnaps') {
    return {
      maxsnaps: r.maxsnaps,
      keep_hourly: null,
      keep_daily: null,
      keep_weekly: null,
      keep_monthly: null,
      keep_yearly: null,
    };
  }
  return {
    maxsnaps: null,
    keep_hourly: r.keephourly,
    keep_daily: r.keepdaily,
    keep_weekly: r.keepweekly,
    keep_monthly: r.keepmonthly,
    keep_yearly: r.keepyearly,
  };
}

function policyFromRow(r: PolicyRow): StoredVmSnapshotPolicy {
  const schedule: PolicySchedule =
    r.schedule_kind === 'cron'
      ? { kind: 'cron', cron: r.cron ?? '' }
      : {
          kind: 'interval',
          intervalType: (r.interval_type ?? 'HOURLY') as IntervalType,
          schedule: r.schedule ?? '',
        };
  const retention: Retention =
    r.maxsnaps !== null
      ? { kind: 'maxsnaps', maxsnaps: r.maxsnaps }
      : {
          kind: 'levels',
          keephourly: r.keep_hourly ?? 0,
          keepdaily: r.keep_daily ?? 0,
          keepweekly: r.keep_weekly ?? 0,
          keepmonthly: r.keep_monthly ?? 0,
          keepyearly: r.keep_yearly ?? 0,
        };
  const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
  return {
    id: r.id,
    vmId: r.vm_id,
    accountId: r.account_id,
    domainId: r.domain_id,
    userId: r.user_id,
    schedule,
    timezone: r.timezone,
    retention,
    snapshotMemory: r.snapshot_memory === 1,
    quiesce: r.quiesce === 1,
    description: r.description,
    created: Number(r.created),
    updated: Number(r.updated),
    removed: num(r.removed),
    lastSlot: num(r.last_slot),
    lastRunStarted: num(r.last_run_started),
    lastRunOutcome: r.last_run_outcome,
    lastRunReason: r.last_run_reason,
  };
}
