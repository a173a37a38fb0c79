/**
 * Migration 0011-management-servers (issue 12): servers that know each other. One row per server
 * process with its heartbeat (listManagementServers); a version row bumped by every settings write,
 * so each server re-reads its cached settings once the version moves; a heartbeat lease per host, so
 * one server at a time pings each host agent.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export const managementServers: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('management_servers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('started', 'bigint', (c) => c.notNull())
      .addColumn('last_heartbeat', 'bigint', (c) => c.notNull())
      .addColumn('stopped', 'bigint')
      /** Up while it runs; Down once it stopped (a silent server is shown Down by its heartbeat). */
      .addColumn('state', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('settings_version')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .execute();
    await sql`INSERT INTO settings_version (id, version) VALUES (1, 0)`.execute(db);
    // The server that heartbeats the host's agent, until when (null: nobody yet).
    await db.schema.alterTable('hosts').addColumn('heartbeat_owner', 'text').execute();
    await db.schema.alterTable('hosts').addColumn('heartbeat_lease_until', 'bigint').execute();
  },
};
