/** Migration 0005-host-tls: TLS to host agents: the agent certificate's pinned fingerprint (issue 9, item 9). */
import type { Kysely, Migration } from 'kysely';

export const hostTls: Migration = {
  async up(db: Kysely<unknown>) {
    // Null for http agents and for https hosts added before pinning (those keep CA validation).
    await db.schema.alterTable('hosts').addColumn('tls_fingerprint', 'text').execute();
  },
};
