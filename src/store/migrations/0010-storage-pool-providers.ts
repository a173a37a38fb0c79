/**
 * Migration 0010-storage-pool-providers: pools declared through the API (issue 11, item 1). A pool
 * gains its URL and details (credentials: sealed at rest, see ../secret-columns.ts), scope, state,
 * storage tags and used bytes. The hypervisor-managed pools, served by the magic driver name
 * `hypervisor` until now, become pools of the built-in `file` driver with a `file://` URL.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export const storagePoolProviders: Migration = {
  async up(db: Kysely<unknown>) {
    const columns: [string, 'text' | 'bigint', string | number][] = [
      ['pool_url', 'text', ''],
      ['pool_details', 'text', '{}'],
      ['scope', 'text', 'ZONE'],
      ['state', 'text', 'Up'],
      ['tags', 'text', ''],
      ['used_bytes', 'bigint', 0],
    ];
    for (const [name, type, initial] of columns) {
      await db.schema
        .alterTable('storage_pools')
        .addColumn(name, type, (c) => c.notNull().defaultTo(initial))
        .execute();
    }
    await sql`UPDATE storage_pools SET scope = 'HOST' WHERE host_id IS NOT NULL`.execute(db);
    // Written plain here; the start-time pass seals every plain value (sealSecretColumns).
    await sql`UPDATE storage_pools SET driver = 'file', pool_url = 'file://' || path WHERE driver = 'hypervisor'`.execute(
      db,
    );
    // Pools of plugin drivers (seeded before pools had URLs) name their driver and path.
    await sql`UPDATE storage_pools SET pool_url = driver || '://' || name WHERE pool_url = ''`.execute(db);
    await db.schema.createIndex('volumes_pool').on('volumes').columns(['pool_id', 'removed']).execute();
  },
};
