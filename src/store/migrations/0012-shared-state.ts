/**
 * Migration 0012-shared-state (issue 12): nothing a server needs lives only in its own data dir.
 * - `simulator_objects`: the simulated zone, as CloudStack's simulator keeps its mock tables in its
 *   database, so every management server acts for every simulated host. One row per simulated VM,
 *   guest agent mode and fault rule, each with a version for compare-and-set
 *   (src/store/simulator-world-store.ts).
 * - `plugin_documents`: PluginHost.store, the plugins' shared documents (src/store/plugin-document-store.ts).
 */
import type { Kysely, Migration } from 'kysely';

export const sharedState: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('simulator_objects')
      // 'vm' | 'guest-agent' | 'fault'
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      // Insertion order (fault rules apply in it); kept across updates.
      .addColumn('position', 'bigint', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('simulator_objects_pk', ['kind', 'name'])
      .execute();
    await db.schema
      .createTable('plugin_documents')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .execute();
  },
};
