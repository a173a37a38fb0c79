/**
 * Migration 0003-list-indexes: indexes that serve each list's access path, for listAsyncJobs,
 * listEvents and listTags, and for the retention purge (issue 9, item 3). Each list filters by
 * account and pages in its sort order; with the sort columns in the index (the id last, as the
 * lists' tie-break) a page is an index range read, whatever other tenants have written. Plain
 * B-tree indexes: the same statements on SQLite and PostgreSQL.
 */
import type { Kysely, Migration } from 'kysely';

interface IndexSpec {
  readonly name: string;
  readonly table: string;
  readonly columns: readonly string[];
}

const INDEXES: readonly IndexSpec[] = [
  // listAsyncJobs: one account's jobs, newest (highest seq) first.
  { name: 'async_jobs_account_seq', table: 'async_jobs', columns: ['account_id', 'seq'] },
  // Job purge: finished jobs (by state) that completed before the cutoff, oldest first.
  { name: 'async_jobs_finished', table: 'async_jobs', columns: ['status', 'completed'] },
  // listEvents: one account's events, newest first.
  { name: 'events_account_created', table: 'events', columns: ['account_id', 'created', 'id'] },
  // listEvents with listall (admins) and the event purge: every event by age.
  { name: 'events_created', table: 'events', columns: ['created', 'id'] },
  // listTags: one account's tags, oldest first.
  { name: 'resource_tags_account_created', table: 'resource_tags', columns: ['account_id', 'created', 'id'] },
  // A resource's (VM's, snapshot's, volume's) tags: lookups, duplicate check, delete, tag count.
  {
    name: 'resource_tags_resource',
    table: 'resource_tags',
    columns: ['resource_type', 'resource_id', 'key'],
  },
];

export const listIndexes: Migration = {
  async up(db: Kysely<unknown>) {
    for (const index of INDEXES) {
      await db.schema
        .createIndex(index.name)
        .ifNotExists()
        .on(index.table)
        .columns([...index.columns])
        .execute();
    }
  },
};
