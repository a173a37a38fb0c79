/** Migration 0005-host-tls: TLS to host agents: the agent certificate's pinned fingerprint (issue 9, item 9). */
import type { Kysely, Migration } from 'kysely';

export const hostTls: Migration = {
  async up(_db: Kysely<unknown>) {
    // placeholder: filled in by the change that owns this migration
  },
};
