/**
 * Migration 0013-snapshot-scale-indexes: a store of a million snapshot rows (issue 15, item 2).
 * listVMSnapshot shows live rows newest first, for every account (admin listall), one account, or
 * one VM: a partial index on live rows in that order per access path makes a page an index range
 * read, never a scan and sort of the table. Deleting a snapshot re-parents its children: without
 * an index on parent_id that update scanned every snapshot row in the store. Partial indexes
 * (`WHERE removed IS NULL`) keep removed history out of them; the same statements serve SQLite and
 * PostgreSQL.
 *
 * A list's `count` is the other cost: counting an admin's listall over a million rows reads them
 * all. vm_snapshot_counts keeps, per account and state, how many live snapshots there are, kept by
 * triggers on vm_snapshots (so every writer, the store's and a bulk load alike, keeps it right, in
 * the writer's own transaction); a list filtered by account and state only sums a few rows of it.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../migrations.ts';

interface LiveIndexSpec {
  readonly name: string;
  readonly columns: readonly string[];
}

const LIVE_SNAPSHOT_INDEXES: readonly LiveIndexSpec[] = [
  // listVMSnapshot listall (admins): every live snapshot, newest first (id breaks ties).
  { name: 'vm_snapshots_live_created', columns: ['created', 'id'] },
  // listVMSnapshot of one account (tenants, admins without listall).
  { name: 'vm_snapshots_live_account_created', columns: ['account_id', 'created', 'id'] },
  // One VM's snapshots, newest first.
  { name: 'vm_snapshots_live_vm_created', columns: ['vm_id', 'created', 'id'] },
  // A snapshot's live children (re-parented when it is deleted).
  { name: 'vm_snapshots_live_parent', columns: ['parent_id'] },
];

export function snapshotScaleIndexes(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await createIndexes(db);
      await createCounts(db, dialect);
    },
  };
}

async function createIndexes(db: Kysely<unknown>): Promise<void> {
  for (const index of LIVE_SNAPSHOT_INDEXES) {
    const columns = sql.join(index.columns.map((c) => sql.ref(c)));
    await sql`CREATE INDEX IF NOT EXISTS ${sql.ref(index.name)} ON vm_snapshots (${columns}) WHERE removed IS NULL`.execute(
      db,
    );
  }
  // listVirtualMachines of one account, oldest first.
  await sql`CREATE INDEX IF NOT EXISTS vms_live_account_created ON vms (account_id, created, id) WHERE removed IS NULL`.execute(
    db,
  );
  await sql`CREATE INDEX IF NOT EXISTS vms_live_created ON vms (created, id) WHERE removed IS NULL`.execute(
    db,
  );
}

async function createCounts(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('vm_snapshot_counts')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('vm_snapshot_counts_pk', ['account_id', 'state'])
    .execute();
  await sql`INSERT INTO vm_snapshot_counts (account_id, state, n)
    SELECT account_id, state, count(*) FROM vm_snapshots WHERE removed IS NULL GROUP BY account_id, state`.execute(
    db,
  );
  if (dialect === 'postgres') await postgresCountTriggers(db);
  else await sqliteCountTriggers(db);
}

/** SQLite: a live row counted in, a row leaving the live set (removed, deleted, changed) counted out. */
async function sqliteCountTriggers(db: Kysely<unknown>): Promise<void> {
  const add = (account: string, state: string, where: string) =>
    `INSERT INTO vm_snapshot_counts (account_id, state, n) SELECT ${account}, ${state}, 1 WHERE ${where}
       ON CONFLICT (account_id, state) DO UPDATE SET n = n + 1;`;
  const subtract = (account: string, state: string) =>
    `UPDATE vm_snapshot_counts SET n = n - 1 WHERE account_id = ${account} AND state = ${state};`;
  await sql
    .raw(
      `CREATE TRIGGER vm_snapshots_count_insert AFTER INSERT ON vm_snapshots WHEN NEW.removed IS NULL
       BEGIN ${add('NEW.account_id', 'NEW.state', 'true')} END`,
    )
    .execute(db);
  await sql
    .raw(
      `CREATE TRIGGER vm_snapshots_count_delete AFTER DELETE ON vm_snapshots WHEN OLD.removed IS NULL
       BEGIN ${subtract('OLD.account_id', 'OLD.state')} END`,
    )
    .execute(db);
  await sql
    .raw(
      `CREATE TRIGGER vm_snapshots_count_update AFTER UPDATE OF state, removed, account_id ON vm_snapshots
       WHEN OLD.state IS NOT NEW.state OR OLD.removed IS NOT NEW.removed OR OLD.account_id IS NOT NEW.account_id
       BEGIN
         UPDATE vm_snapshot_counts SET n = n - 1
           WHERE OLD.removed IS NULL AND account_id = OLD.account_id AND state = OLD.state;
         ${add('NEW.account_id', 'NEW.state', 'NEW.removed IS NULL')}
       END`,
    )
    .execute(db);
}

/**
 * PostgreSQL: the same rule in one row trigger. When a row moves between two counters, the two are
 * written in key order, so two concurrent moves (Ready to Reverting, Reverting to Ready) lock the
 * counter rows in the same order and cannot deadlock.
 */
async function postgresCountTriggers(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE FUNCTION vm_snapshot_count_add(acc text, st text, delta integer) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO vm_snapshot_counts (account_id, state, n) VALUES (acc, st, delta)
      ON CONFLICT (account_id, state) DO UPDATE SET n = vm_snapshot_counts.n + delta
    $$`.execute(db);
  await sql`CREATE FUNCTION vm_snapshot_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      old_live boolean := TG_OP <> 'INSERT' AND OLD.removed IS NULL;
      new_live boolean := TG_OP <> 'DELETE' AND NEW.removed IS NULL;
    BEGIN
      IF old_live AND new_live THEN
        IF OLD.account_id = NEW.account_id AND OLD.state = NEW.state THEN RETURN NULL; END IF;
        IF (OLD.account_id, OLD.state) < (NEW.account_id, NEW.state) THEN
          PERFORM vm_snapshot_count_add(OLD.account_id, OLD.state, -1);
          PERFORM vm_snapshot_count_add(NEW.account_id, NEW.state, 1);
        ELSE
          PERFORM vm_snapshot_count_add(NEW.account_id, NEW.state, 1);
          PERFORM vm_snapshot_count_add(OLD.account_id, OLD.state, -1);
        END IF;
      ELSIF old_live THEN
        PERFORM vm_snapshot_count_add(OLD.account_id, OLD.state, -1);
      ELSIF new_live THEN
        PERFORM vm_snapshot_count_add(NEW.account_id, NEW.state, 1);
      END IF;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER vm_snapshots_count
    AFTER INSERT OR DELETE OR UPDATE OF state, removed, account_id ON vm_snapshots
    FOR EACH ROW EXECUTE FUNCTION vm_snapshot_count_change()`.execute(db);
}
