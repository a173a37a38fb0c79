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

/**
 * One query for every name (the tables are small) and, only when the response shows tags, one for
 * the tags in scope: a job poll must not scan the tag table.
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
  const scopes = (tags === undefined ? [] : 'type' in tags ? [tags] : tags).filter(
    (t) => t.ids === undefined || t.ids.length > 0,
  );
  let tagRows: TagRow[] = [];
  if (scopes.length > 0) {
    tagRows = await db
      .selectFrom('resource_tags')
      .selectAll()
      .where((eb) =>
        eb.or(
          scopes.map((t) =>
            t.ids === undefined
              ? eb('resource_type', '=', t.type)
              : eb.and([eb('resource_type', '=', t.type), eb('resource_id', 'in', [...t.ids])]),
          ),
        ),
      )
      .execute();
  }
  const byKind = (kind: string): Map<string, string> =>
    new Map(names.filter((n) => n.kind === kind).map((n) => [n.id, n.name]));
  const acc = byKind('a');
  const zone = byKind('z');
  const host = byKind('h');
  const pool = byKind('p');
  return {
    accountName: (id) => acc.get(id) ?? id,
    zoneName: (id) => zone.get(id) ?? id,
    hostName: (id) => (id === null ? undefined : host.get(id)),
    poolName: (id) => pool.get(id) ?? id,
    tagsOf: (type, id) =>
      tagRows
        .filter((t) => t.resource_type === type && t.resource_id === id)
        .map((t) => ({
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
