/**
 * The reads behind the API's name lookups: the account, user, zone, host and pool names a response
 * shows (by id, one query; or every name, for the admin lists that show many), and the tags of the
 * resources a response shows, so a job poll never scans the tag table. A cloud's accounts and users
 * are many: a job result reads its few names by key, not the whole tables (issue 15, item 2).
 */
import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { TagRow } from './schema.ts';

export type NameKind = 'account' | 'user' | 'zone' | 'host' | 'pool';

export interface NameRow {
  readonly kind: NameKind;
  readonly id: string;
  readonly name: string;
}

/** Which tags a response shows: of one resource type, optionally only some resources. */
export interface TagScope {
  readonly type: string;
  readonly ids?: readonly string[];
}

/** Ids per `IN (...)` list: far below SQLite's and PostgreSQL's bound-parameter limits. */
const IDS_PER_QUERY = 500;

/** Which names a response shows, by kind; a kind left out is not read. */
export type NameIds = Partial<Record<NameKind, readonly (string | null | undefined)[]>>;

/** The names of the listed ids (each table searched by its primary key), in one statement. */
export async function readNamesOf(db: Db, ids: NameIds): Promise<NameRow[]> {
  const wanted = (kind: NameKind): string[][] => {
    const unique = [...new Set((ids[kind] ?? []).filter((id): id is string => typeof id === 'string'))];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += IDS_PER_QUERY) chunks.push(unique.slice(i, i + IDS_PER_QUERY));
    return chunks;
  };
  const parts = [
    ...wanted('account').map((c) =>
      db
        .selectFrom('accounts')
        .select([kindOf('account'), 'id', 'name'])
        .where('id', 'in', c),
    ),
    ...wanted('user').map((c) =>
      db
        .selectFrom('users')
        .select([kindOf('user'), 'id', 'username as name'])
        .where('id', 'in', c),
    ),
    ...wanted('zone').map((c) =>
      db
        .selectFrom('zones')
        .select([kindOf('zone'), 'id', 'name'])
        .where('id', 'in', c),
    ),
    ...wanted('host').map((c) =>
      db
        .selectFrom('hosts')
        .select([kindOf('host'), 'id', 'name'])
        .where('id', 'in', c),
    ),
    ...wanted('pool').map((c) =>
      db
        .selectFrom('storage_pools')
        .select([kindOf('pool'), 'id', 'name'])
        .where('id', 'in', c),
    ),
  ];
  const [first, ...rest] = parts;
  if (first === undefined) return [];
  return rest.reduce((q, part) => q.unionAll(part), first).execute();
}

const kindOf = (k: NameKind) => sql<NameKind>`${sql.lit(k)}`.as('kind');

/** Every name: for the lists that show many accounts, zones, hosts or pools. */
export async function readNames(db: Db): Promise<NameRow[]> {
  const kind = kindOf;
  return db
    .selectFrom('accounts')
    .select([kind('account'), 'id', 'name'])
    .unionAll(db.selectFrom('users').select([kind('user'), 'id', 'username as name']))
    .unionAll(db.selectFrom('zones').select([kind('zone'), 'id', 'name']))
    .unionAll(db.selectFrom('hosts').select([kind('host'), 'id', 'name']))
    .unionAll(db.selectFrom('storage_pools').select([kind('pool'), 'id', 'name']))
    .execute();
}

/**
 * The tags of each scope: every tag of a type, or those of the listed resources (in chunks, so a
 * page of any size stays within the engines' parameter limits). Ordered as listTags orders them.
 */
export async function readTagsInScopes(db: Db, scopes: readonly TagScope[]): Promise<TagRow[]> {
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
  for (const [type, ids] of idsByType(scopes, wholeTypes)) {
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

/** The listed ids of each type not already read whole, without duplicates. */
function idsByType(scopes: readonly TagScope[], wholeTypes: readonly string[]): Map<string, string[]> {
  const byType = new Map<string, Set<string>>();
  for (const scope of scopes) {
    if (scope.ids === undefined || wholeTypes.includes(scope.type)) continue;
    const ids = byType.get(scope.type) ?? new Set<string>();
    for (const id of scope.ids) ids.add(id);
    byType.set(scope.type, ids);
  }
  return new Map([...byType].map(([type, ids]) => [type, [...ids]]));
}
