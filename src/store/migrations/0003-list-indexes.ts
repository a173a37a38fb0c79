/** Migration 0003-list-indexes: indexes that serve each list's access path, for listAsyncJobs, listEvents and listTags (issue 9, item 3). */
import type { Kysely, Migration } from 'kysely';

export const listIndexes: Migration = {
  async up(_db: Kysely<unknown>) {
    // placeholder: filled in by the change that owns this migration
  },
};
