/**
 * Migration 0020-simulator-commands (issue 12, chaos test): one row per host-side command a simulated
 * host applied (create, revert, delete of a VM snapshot), with the job that sent it and when it ran.
 * Written in the same transaction as the simulated VM's new state, so a command that took effect is
 * recorded exactly once and one that did not (its server died first, or it lost a compare-and-set)
 * is not: the chaos test counts them to prove that no job's command ran twice, and that one VM's
 * commands never overlapped.
 */
import type { Kysely, Migration } from 'kysely';

export const simulatorCommands: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('simulator_commands')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      // The job that sent it (the command's requestId); null for commands sent outside a job.
      .addColumn('job_id', 'text')
      .addColumn('vm_name', 'text', (c) => c.notNull())
      .addColumn('snapshot_name', 'text')
      .addColumn('snapshot_id', 'text')
      .addColumn('host_id', 'text', (c) => c.notNull())
      // When the host received it, and when its effect was stored (epoch ms).
      .addColumn('started', 'bigint', (c) => c.notNull())
      .addColumn('finished', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('simulator_commands_job').on('simulator_commands').column('job_id').execute();
  },
};
