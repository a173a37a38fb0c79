/**
 * Name lookups shared by the response renderers (account, zone, host names). Loaded per request so
 * responses never show stale names; the tables are small.
 */
import { sql } from 'kysely';
import type { App } from '../../app/app.ts';
import type { TagRow } from '../../store/schema.ts';
import { ROOT_DOMAIN_ID } from '../../store/account-store.ts';

export interface Lookups {
  accountName(id: string): string;
  zoneName(id: string): string;
  hostName(id: string | null): string | undefined;
  poolName(id: string): string;
  tagsOf(resourceType: string, resourceId: string): TagView[];
}

export interface TagView {
  key: string;
  value: string;
  resourcetype: string;
  resourceid: string;
  account: string;
  domainid: string;
  domain: string;
}

export const DOMAIN = { id: ROOT_DOMAIN_ID, name: 'ROOT', path: 'ROOT' } as const;

/** Which tags a response shows: of one resource type, optionally only some resources. */
export interface TagScope {
  readonly type: string;
  readonly ids?: readonly string[];
}

/** Ids per `IN (...)` list: far below SQLite's and PostgreSQL's bound-parameter limits. */
const IDS_PER_QUERY = 500;

/**
 * One query for every name (the tables are small: accounts, zones, hosts and pools are created by
 * admins) and, only when the response shows tags, the tags in scope: a job poll must not scan the
 * tag table, and a page of jobs reads the tags of the resources on that page only.
 */
export async function loadLookups(app: App, tags?: TagScope | readonly TagScope[]): Promise<Lookups> {
  const { db } = app.deps;
  const names = await db
    .selectFrom('accounts')
    .select([sql<string>`'a'`.as('kind'), 'id', 'name'])
    .unionAll(db.selectFrom('zones').select([sql<string>`'z'`.as('kind'), 'id', 'name']))
    .unionAll(db.selectFrom('hosts').select([sql<string>`'h'`.as('kind'), 'id', 'name']))
    .unionAll(db.selectFrom('storage_pools').select([sql<string>`'p'`.as('kind'), 'id', 'name']))
    .execute();
  const tagRows = await loadTags(app, tags === undefined ? [] : 'type' in tags ? [tags] : tags);
  const byKind = (kind: string): Map<string, string> =>
    new Map(names.filter((n) => n.kind === kind).map((n) => [n.id, n.name]));
  const acc = byKind('a');
  const zone = byKind('z');
  const host = byKind('h');
  const pool = byKind('p');
  const tagsByResource = new Map<string, TagRow[]>();
  for (const t of tagRows) {
    const key = resourceKey(t.resource_type, t.resource_id);
    const list = tagsByResource.get(key);
    if (list === undefined) tagsByResource.set(key, [t]);
    else list.push(t);
  }
  return {
    accountName: (id) => acc.get(id) ?? id,
    zoneName: (id) => zone.get(id) ?? id,
    hostName: (id) => (id === null ? undefined : host.get(id)),
    poolName: (id) => pool.get(id) ?? id,
    tagsOf: (type, id) =>
      (tagsByResource.get(resourceKey(type, id)) ?? []).map((t) => ({
        key: t.key,
        value: t.value,
        resourcetype: t.resource_type,
        resourceid: t.resource_id,
        account: acc.get(t.account_id) ?? t.account_id,
        domainid: DOMAIN.id,
        domain: DOMAIN.name,
      })),
  };
}

function resourceKey(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

/**
 * The tags of each scope: every tag of a type, or those of the listed resources (in chunks, so a
 * page of any size stays within the engines' parameter limits). Ordered as listTags orders them.
 */
async function loadTags(app: App, scopes: readonly TagScope[]): Promise<TagRow[]> {
  const { db } = app.deps;
  const wholeTypes = scopes.filter((t) => t.ids === undefined).map((t) => t.type);
  const rows: TagRow[] = [];
  if (wholeTypes.length > 0) {
    rows.push(
      ...(await db
        .selectFrom('resource_tags')
        .selectAll()
        .where('resource_type', 'in', wholeTypes)
        .execute()),
    );
  }
  const idsByType = new Map<string, Set<string>>();
  for (const scope of scopes) {
    if (scope.ids === undefined || wholeTypes.includes(scope.type)) continue;
    const ids = idsByType.get(scope.type) ?? new Set<string>();
    for (const id of scope.ids) ids.add(id);
    idsByType.set(scope.type, ids);
  }
  for (const [type, idSet] of idsByType) {
    const ids = [...idSet];
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      rows.push(
        ...(await db
          .selectFrom('resource_tags')
          .selectAll()
          .where('resource_type', '=', type)
          .where('resource_id', 'in', ids.slice(i, i + IDS_PER_QUERY))
          .execute()),
      );
    }
  }
  return rows.sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
