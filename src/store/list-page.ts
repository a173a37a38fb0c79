/**
 * Paged reads in SQL: a list returns one page of rows and the total that matched, and never reads
 * a whole table into memory. A busy tenant's rows then cost another tenant's list nothing but an
 * index lookup (issue 9, item 3).
 */
import {
  sql,
  type RawBuilder,
  type SelectQueryBuilder,
  type Simplify,
  type SqlBool,
  type StringReference,
} from 'kysely';

/** Rows to skip and rows to return; `limit: null` means every row (CloudStack's `pagesize=-1`). */
export interface PageRequest {
  readonly offset: number;
  readonly limit: number | null;
}

/** One page of rows and the number of rows that matched before paging (CloudStack's `count`). */
export interface PageResult<T> {
  readonly rows: T[];
  readonly total: number;
}

/**
 * Reads one page, then the count only when the page cannot tell it: a page that is not full and
 * does not start past the end already says how many rows matched, which saves the second query
 * for most lists (a tenant's own short list).
 */
export async function readPage<T>(
  page: PageRequest,
  rows: (page: PageRequest) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<PageResult<T>> {
  const found = await rows(page);
  const pageIsPartial = page.limit === null || found.length < page.limit;
  if (pageIsPartial && (found.length > 0 || page.offset === 0)) {
    return { rows: found, total: page.offset + found.length };
  }
  return { rows: found, total: await count() };
}

/**
 * One page of a filtered query's rows, in the order `ordered` selects them, and the count of all
 * the rows `filtered` matches: every list reads its page this way.
 */
export function readQueryPage<DB, TB extends keyof DB, O>(
  filtered: SelectQueryBuilder<DB, TB, object>,
  ordered: (q: SelectQueryBuilder<DB, TB, object>) => SelectQueryBuilder<DB, TB, O>,
  page: PageRequest,
): Promise<PageResult<Simplify<O>>> {
  return readPage(
    page,
    (p) => withPage(ordered(filtered), p).execute(),
    () => countRows(filtered),
  );
}

/** How many rows a query matches. */
export async function countRows<DB, TB extends keyof DB>(
  query: SelectQueryBuilder<DB, TB, object>,
): Promise<number> {
  // Kysely cannot resolve a selection over a generic table: the row's type is stated instead.
  const counted = query.select(sql<number>`count(*)`.as('n')).$castTo<{ n: number | string | bigint }>();
  return countOf(await counted.executeTakeFirst());
}

/**
 * Keeps the rows where `keyword` (if any) is a case-insensitive substring of one of `columns`
 * (CloudStack's `keyword` parameter); its own `%`, `_` and `\` match literally.
 */
export function whereKeyword<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  keyword: string | undefined,
  columns: readonly StringReference<DB, TB>[],
): SelectQueryBuilder<DB, TB, O> {
  if (keyword === undefined || keyword === '') return query;
  const pattern = containsPattern(keyword);
  return query.where((eb) => {
    const tests = columns.map((c) => sql`lower(${eb.ref(c)}) like ${pattern} escape '\\'`);
    return sql<boolean>`(${sql.join(tests, sql` or `)})`;
  });
}

/**
 * Applies a page to a query: `limit`, and `offset` only when there is one (SQLite accepts OFFSET
 * only after LIMIT; an unlimited page always starts at 0).
 */
export function withPage<Q extends { limit(n: number): Q; offset(n: number): Q }>(
  query: Q,
  page: PageRequest,
): Q {
  if (page.limit === null) return query;
  const limited = query.limit(page.limit);
  return page.offset > 0 ? limited.offset(page.offset) : limited;
}

/**
 * A LIKE pattern that matches `keyword` anywhere, case-insensitively when compared against
 * `lower(column)` with `ESCAPE '\'`: the keyword's own `%`, `_` and `\` match literally.
 */
export function containsPattern(keyword: string): string {
  return `%${keyword.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Count rows as a number on both engines (PostgreSQL's count is a bigint). */
export function countOf(row: { n: number | string | bigint } | undefined): number {
  return row === undefined ? 0 : Number(row.n);
}

/**
 * CloudStack joins `tags[i].key/value` pairs with OR: true when the `resource_tags` row aliased `t`
 * matches any pair (a pair with an empty value matches the key alone). Used inside the lists'
 * `exists (select … from resource_tags as t …)` subqueries.
 */
export function tagMatchesAnyPair(tags: readonly { key: string; value: string }[]): RawBuilder<SqlBool> {
  const pairs = tags.map((t) =>
    t.value === '' ? sql`t.key = ${t.key}` : sql`(t.key = ${t.key} and t.value = ${t.value})`,
  );
  return sql<SqlBool>`(${sql.join(pairs, sql` or `)})`;
}
