/**
 * listVMSnapshot's read: one page of live snapshot rows, newest first, filtered and paged in SQL,
 * with what a response shows of each row's VM and parent read in the same statement. A store of a
 * million snapshots then costs a page an index range read (vm_snapshots_live_* of migration 0013),
 * never the whole table in memory (issue 15, item 2).
 */
import { sql, type CompiledQuery, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import type { HypervisorType } from '../core/plugin-api.ts';
import type { Db } from './database.ts';
import {
  readPage,
  tagMatchesAnyPair,
  whereKeyword,
  withPage,
  countOf,
  countRows,
  type PageRequest,
  type PageResult,
} from './list-page.ts';
import type { Database, VmSnapshotTable } from './schema.ts';
import { snapshotFromRow, type StoredVmSnapshot } from './vm-snapshot-store.ts';

export interface SnapshotListFilter {
  /** Only these snapshots (an empty list matches none). */
  readonly ids?: readonly string[] | undefined;
  readonly vmId?: string | undefined;
  /** Only this account's snapshots; null: every account's. */
  readonly accountId: string | null;
  /** Only snapshots in one of these states. */
  readonly states: readonly string[];
  /** Exact display name. */
  readonly displayName?: string | undefined;
  /** Case-insensitive substring of the name, display name or description. */
  readonly keyword?: string | undefined;
  /** Snapshots with at least one of these tags (an empty value matches any value); none: no filter. */
  readonly tags?: readonly { key: string; value: string }[] | undefined;
  /** Only the snapshots this VM snapshot policy took (issue 13; served by vm_snapshots_live_policy). */
  readonly policyId?: string | undefined;
}

/** What a snapshot response shows of its VM (a live VM only). */
export interface ListedSnapshotVm {
  readonly id: string;
  readonly displayName: string;
  readonly instanceName: string;
  readonly hypervisor: HypervisorType;
  readonly zoneId: string;
}

/** A listed snapshot (its volume records are not part of a list response), its VM and live parent. */
export interface ListedVmSnapshot {
  readonly snapshot: Omit<StoredVmSnapshot, 'volumes'>;
  /** The sum of its volumes' sizes at the take, in bytes; undefined when it has no volume records. */
  readonly virtualSize: number | undefined;
  readonly vm: ListedSnapshotVm | undefined;
  readonly parent: { readonly id: string; readonly displayName: string } | undefined;
}

type ListDb = Database & { s: VmSnapshotTable };
type SnapshotQuery = SelectQueryBuilder<ListDb, 's', object>;

/**
 * One page of live snapshots, newest first (ties: higher id first), and how many matched. Served
 * by vm_snapshots_live_vm_created (one VM), vm_snapshots_live_account_created (one account) or
 * vm_snapshots_live_created (every account).
 */
export async function listSnapshotPage(
  db: Db,
  filter: SnapshotListFilter,
  page: PageRequest,
): Promise<PageResult<ListedVmSnapshot>> {
  const filtered = whereFilter(db.selectFrom('vm_snapshots as s'), filter);
  return readPage(
    page,
    async (p) => (await withPage(joined(filtered), p).execute()).map(toListed),
    () => (countsSuffice(filter) ? countFromCounters(db, filter) : countRows(filtered)),
  );
}

/**
 * A list filtered by account and state only (the usual listall and tenant lists) is counted from
 * vm_snapshot_counts, which triggers keep per account and state: a few rows, not a million.
 */
function countsSuffice(f: SnapshotListFilter): boolean {
  return (
    f.ids === undefined &&
    f.vmId === undefined &&
    f.displayName === undefined &&
    f.policyId === undefined &&
    (f.keyword === undefined || f.keyword === '') &&
    (f.tags ?? []).length === 0
  );
}

async function countFromCounters(db: Db, f: SnapshotListFilter): Promise<number> {
  let q = db
    .selectFrom('vm_snapshot_counts')
    .select(sql<number | string | bigint>`coalesce(sum(n), 0)`.as('n'))
    .where('state', 'in', f.states.length > 0 ? [...f.states] : ['-']);
  if (f.accountId !== null) q = q.where('account_id', '=', f.accountId);
  return countOf(await q.executeTakeFirst());
}

/** The statements of a page read (the page, then the count), for query plans (bench, tests). */
export function snapshotPageStatements(
  db: Db,
  filter: SnapshotListFilter,
  page: PageRequest,
): { page: CompiledQuery; count: CompiledQuery } {
  const filtered = whereFilter(db.selectFrom('vm_snapshots as s'), filter);
  return {
    page: withPage(joined(filtered), page).compile(),
    count: countsSuffice(filter)
      ? db
          .selectFrom('vm_snapshot_counts')
          .select(sql<number>`coalesce(sum(n), 0)`.as('n'))
          .where('state', 'in', [...filter.states])
          .$if(filter.accountId !== null, (q) => q.where('account_id', '=', filter.accountId ?? ''))
          .compile()
      : filtered.select(sql<number>`count(*)`.as('n')).compile(),
  };
}

function whereFilter(q: SnapshotQuery, f: SnapshotListFilter): SnapshotQuery {
  let out = q.where('s.removed', 'is', null);
  if (f.ids !== undefined) out = out.where('s.id', 'in', f.ids.length > 0 ? [...f.ids] : ['-']);
  if (f.vmId !== undefined) out = out.where('s.vm_id', '=', f.vmId);
  if (f.accountId !== null) out = out.where('s.account_id', '=', f.accountId);
  out = out.where('s.state', 'in', f.states.length > 0 ? [...f.states] : ['-']);
  if (f.displayName !== undefined) out = out.where('s.display_name', '=', f.displayName);
  if (f.policyId !== undefined) out = out.where('s.policy_id', '=', f.policyId);
  out = whereKeyword(out, f.keyword, ['s.name', 's.display_name', 's.description']);
  const tags = f.tags ?? [];
  if (tags.length > 0) out = out.where((eb) => eb.exists(taggedWith(eb, tags)));
  return out;
}

/** CloudStack joins tag pairs with OR: a tag of the snapshot matching any pair. */
function taggedWith(eb: ExpressionBuilder<ListDb, 's'>, tags: readonly { key: string; value: string }[]) {
  return eb
    .selectFrom('resource_tags as t')
    .select(sql`1`.as('one'))
    .where('t.resource_type', '=', 'VMSnapshot')
    .whereRef('t.resource_id', '=', 's.id')
    .where(tagMatchesAnyPair(tags));
}

/** The page's rows with their live VM and live parent (left joins: either may be gone). */
function joined(q: SnapshotQuery) {
  return q
    .leftJoin('vms as m', (j) => j.onRef('m.id', '=', 's.vm_id').on('m.removed', 'is', null))
    .leftJoin('vm_snapshots as p', (j) => j.onRef('p.id', '=', 's.parent_id').on('p.removed', 'is', null))
    .selectAll('s')
    .select([
      'm.id as vm_live_id',
      'm.display_name as vm_display_name',
      'm.instance_name as vm_instance_name',
      'm.hypervisor as vm_hypervisor',
      'm.zone_id as vm_zone_id',
      'p.id as parent_live_id',
      'p.display_name as parent_display_name',
      // Per page row, a search of vm_snapshot_volumes' primary key (snapshot_id, volume_id).
      (eb) =>
        eb
          .selectFrom('vm_snapshot_volumes as v')
          .select((v) => v.fn.sum<number | string | bigint | null>('v.size').as('size'))
          .whereRef('v.snapshot_id', '=', 's.id')
          .as('volumes_size'),
    ])
    .orderBy('s.created', 'desc')
    .orderBy('s.id', 'desc');
}

type JoinedRow = Awaited<ReturnType<ReturnType<typeof joined>['execute']>>[number];

function toListed(r: JoinedRow): ListedVmSnapshot {
  const { volumes: _volumes, ...snapshot } = snapshotFromRow(r, []);
  return {
    snapshot,
    // PostgreSQL sums a bigint as numeric, which node-postgres hands over as a string.
    virtualSize: r.volumes_size === null ? undefined : Number(r.volumes_size),
    vm:
      r.vm_live_id === null
        ? undefined
        : {
            id: r.vm_live_id,
            displayName: r.vm_display_name ?? '',
            instanceName: r.vm_instance_name ?? '',
            hypervisor: (r.vm_hypervisor ?? '') as HypervisorType,
            zoneId: r.vm_zone_id ?? '',
          },
    parent:
      r.parent_live_id === null
        ? undefined
        : { id: r.parent_live_id, displayName: r.parent_display_name ?? '' },
  };
}
