/**
 * Migration 0017-vm-snapshot-policies (issue 13): scheduled VM snapshots with retention.
 * - `vm_snapshot_policies`: one schedule of one VM (CloudStack's intervaltype/schedule or a cron
 *   expression, in a timezone), its retention (maxsnaps or keep-*), and the last run's outcome.
 * - `vm_snapshot_policy_runs`: one row per (policy, slot). Its UNIQUE (policy_id, slot) is the
 *   exactly-once claim: every management server may try to insert the row for a due slot, and the
 *   database lets exactly one insert in, across restarts and servers. The row then carries the run
 *   through its phases (Pending, Pruning, Creating) to its outcome, so any server can finish a run
 *   whose server died (src/jobs/policy-scheduler.ts).
 * - `vm_snapshots.policy_id`: the policy that took a snapshot (null: a manual one); retention only
 *   ever looks at its own policy's snapshots through it.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export const vmSnapshotPolicies: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('vm_snapshot_policies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('vm_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('domain_id', 'text', (c) => c.notNull())
      // The user the policy's jobs run as (its creator).
      .addColumn('user_id', 'text', (c) => c.notNull())
      // 'interval' | 'cron'
      .addColumn('schedule_kind', 'text', (c) => c.notNull())
      .addColumn('interval_type', 'text')
      .addColumn('schedule', 'text')
      .addColumn('cron', 'text')
      .addColumn('timezone', 'text', (c) => c.notNull())
      // Either maxsnaps, or the keep-* levels (null when maxsnaps is used).
      .addColumn('maxsnaps', 'integer')
      .addColumn('keep_hourly', 'integer')
      .addColumn('keep_daily', 'integer')
      .addColumn('keep_weekly', 'integer')
      .addColumn('keep_monthly', 'integer')
      .addColumn('keep_yearly', 'integer')
      .addColumn('snapshot_memory', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('quiesce', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created', 'bigint', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .addColumn('removed', 'bigint')
      // The newest slot claimed (a cheap pre-check; the runs' unique key is the real guard).
      .addColumn('last_slot', 'bigint')
      .addColumn('last_run_started', 'bigint')
      .addColumn('last_run_outcome', 'text')
      .addColumn('last_run_reason', 'text')
      .execute();
    await sql`CREATE INDEX vm_snapshot_policies_live_vm ON vm_snapshot_policies (vm_id) WHERE removed IS NULL`.execute(
      db,
    );
    await sql`CREATE INDEX vm_snapshot_policies_live_account ON vm_snapshot_policies (account_id, created, id) WHERE removed IS NULL`.execute(
      db,
    );
    await db.schema
      .createTable('vm_snapshot_policy_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('policy_id', 'text', (c) => c.notNull())
      .addColumn('slot', 'bigint', (c) => c.notNull())
      // Pending | Pruning | Creating (in flight); Succeeded | Skipped | Failed (final).
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
      // How late the run was claimed after its slot (downtime), ms.
      .addColumn('late_ms', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt', 'bigint', (c) => c.notNull())
      // The server acting on the run, and until when (a dead server's run is taken over after it).
      .addColumn('owner', 'text')
      .addColumn('lease_until', 'bigint')
      // Chosen before they exist (persist before acting): a taken-over run finds what was done.
      .addColumn('snapshot_id', 'text')
      .addColumn('job_id', 'text')
      // JSON array of the delete job ids of a prune in flight.
      .addColumn('prune_jobs', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('update_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('started', 'bigint', (c) => c.notNull())
      .addColumn('finished', 'bigint')
      .addUniqueConstraint('vm_snapshot_policy_runs_claim', ['policy_id', 'slot'])
      .execute();
    await sql`CREATE INDEX vm_snapshot_policy_runs_open ON vm_snapshot_policy_runs (next_attempt) WHERE finished IS NULL`.execute(
      db,
    );
    await db.schema.alterTable('vm_snapshots').addColumn('policy_id', 'text').execute();
    await sql`CREATE INDEX vm_snapshots_live_policy ON vm_snapshots (policy_id, created) WHERE removed IS NULL AND policy_id IS NOT NULL`.execute(
      db,
    );
  },
};
