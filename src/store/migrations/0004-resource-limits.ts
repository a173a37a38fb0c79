/**
 * Migration 0004-resource-limits: per-account resource limits (issue 9, item 4).
 *
 * Only the limits are stored. The counts they are checked against are computed in SQL from the VM
 * and volume rows, inside the deploy's transaction (see store/resource-limit-store.ts), so there is
 * no second copy of the truth to drift. The index serves that count: an account's live VMs.
 */
import type { Kysely, Migration } from 'kysely';

export const resourceLimits: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('resource_limits')
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('resource_type', 'integer', (c) => c.notNull())
      .addColumn('max', 'bigint', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('resource_limits_pk', ['account_id', 'resource_type'])
      .execute();
    await db.schema
      .createIndex('vms_account_resources')
      .on('vms')
      .columns(['account_id', 'removed'])
      .execute();
  },
};
