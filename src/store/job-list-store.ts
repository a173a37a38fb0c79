/** listAsyncJobs' read: one account's jobs (or all), newest first, paged in SQL. */
import type { SelectQueryBuilder } from 'kysely';
import type { Db } from './database.ts';
import { readQueryPage, type PageRequest, type PageResult } from './list-page.ts';
import type { AsyncJobRow, Database } from './schema.ts';

export interface JobFilter {
  /** Only this account's jobs; null: every account's. */
  readonly accountId: string | null;
  /** Created at or after (epoch ms). */
  readonly from?: number | undefined;
}

type JobQuery = SelectQueryBuilder<Database, 'async_jobs', object>;

/** One page of jobs in submission order, newest first (served by async_jobs_account_seq). */
export async function listJobs(
  db: Db,
  filter: JobFilter,
  page: PageRequest,
): Promise<PageResult<AsyncJobRow>> {
  return readQueryPage(
    filtered(db.selectFrom('async_jobs'), filter),
    (q) => q.selectAll().orderBy('seq', 'desc'),
    page,
  );
}

function filtered(q: JobQuery, f: JobFilter): JobQuery {
  let out = q;
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  if (f.from !== undefined) out = out.where('created', '>=', f.from);
  return out;
}
