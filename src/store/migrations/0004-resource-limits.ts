/** Migration 0004-resource-limits: per-account resource limits and counts (issue 9, item 4). */
import type { Kysely, Migration } from 'kysely';

export const resourceLimits: Migration = {
  async up(_db: Kysely<unknown>) {
    // placeholder: filled in by the change that owns this migration
  },
};
