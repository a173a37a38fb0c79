/**
 * listVirtualMachines' read: one page of live VMs, oldest first, filtered and paged in SQL, so a
 * store of 100,000 VMs costs a page an index range read (vms_live_* of migration 0013), not the
 * whole table in memory (issue 15, item 2).
 */
import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import type { Db } from './database.ts';
import { toVm, type StoredVm } from './inventory-store.ts';
import {
  readQueryPage,
  tagMatchesAnyPair,
  whereKeyword,
  type PageRequest,
  type PageResult,
} from './list-page.ts';
import type { Database } from './schema.ts';

export interface VmListFilter {
  /** Only this account's VMs; null: every account's. */
  readonly accountId: string | null;
  /** Only these VMs (an empty list matches none). */
  readonly ids?: readonly string[] | undefined;
  /** Exact display name. */
  readonly displayName?: string | undefined;
  /** State, compared case-insensitively. */
  readonly state?: string | undefined;
  readonly zoneId?: string | undefined;
  readonly hostId?: string | undefined;
  /** Case-insensitive substring of the display name or instance name. */
  readonly keyword?: string | undefined;
  /** VMs with at least one of these tags (an empty value matches any value); none: no filter. */
  readonly tags?: readonly { key: string; value: string }[] | undefined;
}

type VmQuery = SelectQueryBuilder<Database, 'vms', object>;

/** One page of live VMs in creation order (ties: lower id first), and how many matched. */
export async function listVmPage(
  db: Db,
  filter: VmListFilter,
  page: PageRequest,
): Promise<PageResult<StoredVm>> {
  const found = await readQueryPage(
    whereFilter(db.selectFrom('vms'), filter),
    (q) => q.selectAll().orderBy('created').orderBy('id'),
    page,
  );
  return { rows: found.rows.map(toVm), total: found.total };
}

function whereFilter(q: VmQuery, f: VmListFilter): VmQuery {
  let out = q.where('removed', 'is', null);
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  if (f.ids !== undefined) out = out.where('id', 'in', f.ids.length > 0 ? [...f.ids] : ['-']);
  if (f.displayName !== undefined) out = out.where('display_name', '=', f.displayName);
  if (f.state !== undefined) out = out.where(sql<string>`lower(state)`, '=', f.state.toLowerCase());
  if (f.zoneId !== undefined) out = out.where('zone_id', '=', f.zoneId);
  if (f.hostId !== undefined) out = out.where('host_id', '=', f.hostId);
  out = whereKeyword(out, f.keyword, ['display_name', 'instance_name']);
  const tags = f.tags ?? [];
  if (tags.length > 0) out = out.where((eb) => eb.exists(taggedWith(eb, tags)));
  return out;
}

/** CloudStack joins tag pairs with OR: a tag of the VM matching any pair. */
function taggedWith(eb: ExpressionBuilder<Database, 'vms'>, tags: readonly { key: string; value: string }[]) {
  return eb
    .selectFrom('resource_tags as t')
    .select(sql`1`.as('one'))
    .where('t.resource_type', '=', 'UserVm')
    .whereRef('t.resource_id', '=', 'vms.id')
    .where(tagMatchesAnyPair(tags));
}
