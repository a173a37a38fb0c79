/**
 * Versioned migrations, run on every start through kysely's Migrator. Written once for both
 * dialects: the only difference is the auto-increment column of the job sequence.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { listIndexes } from './migrations/0003-list-indexes.ts';
import { resourceLimits } from './migrations/0004-resource-limits.ts';
import { hostTls } from './migrations/0005-host-tls.ts';
import { sharedState } from './migrations/0012-shared-state.ts';
import { storagePoolProviders } from './migrations/0010-storage-pool-providers.ts';
import { managementServers } from './migrations/0011-management-servers.ts';
import { snapshotScaleIndexes } from './migrations/0013-snapshot-scale-indexes.ts';
import { simulatorCommands } from './migrations/0020-simulator-commands.ts';
import { vmSnapshotPolicies } from './migrations/0017-vm-snapshot-policies.ts';
import { userSessions } from './migrations/0018-user-sessions.ts';

export type Dialect = 'sqlite' | 'postgres';

function initial(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('zones')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('hosts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('zone_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hypervisor', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('url', 'text')
        .addColumn('agent_token', 'text')
        .addColumn('last_heartbeat', 'bigint')
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema
        .createTable('storage_pools')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('zone_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('driver', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('host_id', 'text')
        .addColumn('capacity_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('domain_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('api_key', 'text', (c) => c.unique())
        .addColumn('secret_key', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('vms')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('instance_name', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('host_id', 'text')
        .addColumn('last_host_id', 'text')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('zone_id', 'text', (c) => c.notNull())
        .addColumn('hypervisor', 'text', (c) => c.notNull())
        .addColumn('memory_mb', 'integer', (c) => c.notNull())
        .addColumn('cpus', 'integer', (c) => c.notNull())
        .addColumn('update_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema
        .createTable('volumes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('vm_id', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('device_id', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema.createIndex('volumes_vm').on('volumes').column('vm_id').execute();
      await db.schema
        .createTable('vm_snapshots')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('vm_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('parent_id', 'text')
        .addColumn('current', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('strategy', 'text')
        .addColumn('quiesce', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('update_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('updated', 'bigint', (c) => c.notNull())
        .addColumn('removed', 'bigint')
        .execute();
      await db.schema
        .createIndex('vm_snapshots_vm')
        .on('vm_snapshots')
        .columns(['vm_id', 'removed'])
        .execute();
      await db.schema
        .createTable('vm_snapshot_volumes')
        .addColumn('snapshot_id', 'text', (c) => c.notNull())
        .addColumn('volume_id', 'text', (c) => c.notNull())
        .addColumn('driver', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('ref', 'text')
        .addPrimaryKeyConstraint('vm_snapshot_volumes_pk', ['snapshot_id', 'volume_id'])
        .execute();
      await db.schema
        .createTable('async_jobs')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('cmd', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('queue_key', 'text', (c) => c.notNull())
        .addColumn('instance_type', 'text')
        .addColumn('instance_id', 'text')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('result_code', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('result', 'text')
        .addColumn('progress', 'text')
        .addColumn('owner', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('started', 'bigint')
        .addColumn('completed', 'bigint')
        .execute();
      await db.schema
        .createIndex('async_jobs_queue')
        .on('async_jobs')
        .columns(['queue_key', 'status', 'seq'])
        .execute();
      // The claim scans queued jobs in order; without this it would read every finished job too.
      await db.schema.createIndex('async_jobs_status').on('async_jobs').columns(['status', 'seq']).execute();
      // The database itself guarantees one running job per queue, even if claim logic is wrong.
      await sql`CREATE UNIQUE INDEX async_jobs_one_running ON async_jobs (queue_key) WHERE status = 'running'`.execute(
        db,
      );
      await db.schema
        .createTable('events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('resource_type', 'text')
        .addColumn('resource_id', 'text')
        .addColumn('created', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('settings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('resource_tags')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('resource_type', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('created', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * A live snapshot's generated name is its tag on the hypervisor, and its display name is what users
 * address it by: two concurrent creates must not both pass the manager's checks with the same one.
 * Partial indexes (live rows only) so a deleted snapshot's names can be reused, as in CloudStack.
 */
const uniqueSnapshotNames: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`CREATE UNIQUE INDEX vm_snapshots_live_name ON vm_snapshots (vm_id, name) WHERE removed IS NULL`.execute(
      db,
    );
    await sql`CREATE UNIQUE INDEX vm_snapshots_live_display_name ON vm_snapshots (vm_id, display_name) WHERE removed IS NULL`.execute(
      db,
    );
  },
};

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initial(dialect),
        '0002_unique_snapshot_names': uniqueSnapshotNames,
        '0003_list_indexes': listIndexes,
        '0004_resource_limits': resourceLimits,
        '0005_host_tls': hostTls,
        '0010_storage_pool_providers': storagePoolProviders,
        '0011_management_servers': managementServers,
        '0012_shared_state': sharedState,
        '0013_snapshot_scale_indexes': snapshotScaleIndexes(dialect),
        '0017_vm_snapshot_policies': vmSnapshotPolicies,
        '0018_user_sessions': userSessions,
        '0020_simulator_commands': simulatorCommands,
      };
    },
  };
}
