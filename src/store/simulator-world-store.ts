/**
 * The simulated zone's rows in the management database (migration 0012): what the composition root
 * hands the simulator as its SimulatorPersistence, so every management server acts for every
 * simulated host. Every write is one statement whose WHERE names the version read (compare-and-set):
 * two servers acting on one row never overwrite each other; the loser is told and re-reads.
 *
 * Structurally the simulator's SimulatorPersistence: the store does not import the simulator.
 */
import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { Dialect } from './migrations.ts';

export type SimulatorObjectKind = 'vm' | 'guest-agent' | 'fault';

export interface SimulatorObjectRow {
  readonly name: string;
  readonly body: string;
  readonly version: number;
}

/** A host-side command a simulated host applied (structurally the simulator's SimCommandRecord). */
export interface SimulatorCommandEntry {
  readonly id: string;
  readonly kind: string;
  readonly jobId: string | null;
  readonly vmName: string;
  readonly snapshotName: string | null;
  readonly snapshotId: string | null;
  readonly hostId: string;
  readonly started: number;
  readonly finished: number;
}

export class SimulatorWorldStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect = 'sqlite',
  ) {}

  async list(kind: SimulatorObjectKind): Promise<SimulatorObjectRow[]> {
    return this.db
      .selectFrom('simulator_objects')
      .select(['name', 'body', 'version'])
      .where('kind', '=', kind)
      .orderBy('position')
      .orderBy('name')
      .execute();
  }

  async get(kind: SimulatorObjectKind, name: string): Promise<SimulatorObjectRow | undefined> {
    return this.db
      .selectFrom('simulator_objects')
      .select(['name', 'body', 'version'])
      .where('kind', '=', kind)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /**
   * Compare-and-set of one row. With `command`, its record is stored exactly when the write wins: on
   * PostgreSQL in the same statement (the write a CTE the insert selects from), so a server killed
   * at any moment leaves both or neither. On SQLite the record follows the write: there the one
   * server and its simulated hosts share a process, and the chaos test runs on PostgreSQL. (Not a
   * transaction: several in-process connections to one SQLite file, as the tests open, would block
   * each other's synchronous calls while one holds the write lock across an await.)
   */
  async put(
    kind: SimulatorObjectKind,
    name: string,
    body: string,
    expected: number | null,
    command?: SimulatorCommandEntry,
  ): Promise<boolean> {
    if (command !== undefined && this.dialect === 'postgres')
      return putRowWithCommand(this.db, kind, name, body, expected, command);
    const won = await putRow(this.db, kind, name, body, expected);
    if (won && command !== undefined) await insertCommand(this.db, command);
    return won;
  }

  async recordCommand(command: SimulatorCommandEntry): Promise<void> {
    await insertCommand(this.db, command);
  }

  /** Every command record, oldest first (tests and diagnostics). */
  async listCommands(): Promise<SimulatorCommandEntry[]> {
    const rows = await this.db.selectFrom('simulator_commands').selectAll().orderBy('started').execute();
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      jobId: r.job_id,
      vmName: r.vm_name,
      snapshotName: r.snapshot_name,
      snapshotId: r.snapshot_id,
      hostId: r.host_id,
      started: Number(r.started),
      finished: Number(r.finished),
    }));
  }

  async set(kind: SimulatorObjectKind, name: string, body: string): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('simulator_objects')
      .values({ kind, name, body, version: 1, position: nextPosition(kind), updated: now })
      .onConflict((oc) =>
        oc.columns(['kind', 'name']).doUpdateSet((eb) => ({
          body: eb.ref('excluded.body'),
          version: eb('simulator_objects.version', '+', 1),
          updated: eb.ref('excluded.updated'),
        })),
      )
      .execute();
  }

  async remove(kind: SimulatorObjectKind, name: string, expected?: number): Promise<boolean> {
    let query = this.db.deleteFrom('simulator_objects').where('kind', '=', kind).where('name', '=', name);
    if (expected !== undefined) query = query.where('version', '=', expected);
    const deleted = await query.executeTakeFirst();
    return Number(deleted.numDeletedRows) === 1;
  }

  async replaceAll(
    kind: SimulatorObjectKind,
    rows: readonly { name: string; body: string }[],
  ): Promise<void> {
    const now = Date.now();
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('simulator_objects').where('kind', '=', kind).execute();
      for (const row of rows) {
        await tx
          .insertInto('simulator_objects')
          .values({
            kind,
            name: row.name,
            body: row.body,
            version: 1,
            position: nextPosition(kind),
            updated: now,
          })
          .execute();
      }
    });
  }
}

/** Writes `body` if the row is still at `expected` (null: only if absent); whether it did. */
async function putRow(
  db: Db,
  kind: SimulatorObjectKind,
  name: string,
  body: string,
  expected: number | null,
): Promise<boolean> {
  const now = Date.now();
  if (expected === null) {
    const inserted = await db
      .insertInto('simulator_objects')
      .values({ kind, name, body, version: 1, position: nextPosition(kind), updated: now })
      .onConflict((oc) => oc.columns(['kind', 'name']).doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
  }
  const updated = await db
    .updateTable('simulator_objects')
    .set({ body, version: expected + 1, updated: now })
    .where('kind', '=', kind)
    .where('name', '=', name)
    .where('version', '=', expected)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** PostgreSQL: the row write and the record in one statement; true when the write won. */
async function putRowWithCommand(
  db: Db,
  kind: SimulatorObjectKind,
  name: string,
  body: string,
  expected: number | null,
  c: SimulatorCommandEntry,
): Promise<boolean> {
  const now = Date.now();
  const write =
    expected === null
      ? sql`INSERT INTO simulator_objects (kind, name, body, version, position, updated)
            VALUES (${kind}, ${name}, ${body}, 1, ${nextPosition(kind)}, ${now})
            ON CONFLICT (kind, name) DO NOTHING RETURNING 1`
      : sql`UPDATE simulator_objects SET body = ${body}, version = ${expected + 1}, updated = ${now}
            WHERE kind = ${kind} AND name = ${name} AND version = ${expected} RETURNING 1`;
  const result = await sql`WITH written AS (${write})
    INSERT INTO simulator_commands
      (id, kind, job_id, vm_name, snapshot_name, snapshot_id, host_id, started, finished)
    SELECT ${c.id}::text, ${c.kind}::text, ${c.jobId}::text, ${c.vmName}::text,
      ${c.snapshotName}::text, ${c.snapshotId}::text, ${c.hostId}::text,
      ${c.started}::bigint, ${c.finished}::bigint
    FROM written`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

async function insertCommand(db: Db, c: SimulatorCommandEntry): Promise<void> {
  await db
    .insertInto('simulator_commands')
    .values({
      id: c.id,
      kind: c.kind,
      job_id: c.jobId,
      vm_name: c.vmName,
      snapshot_name: c.snapshotName,
      snapshot_id: c.snapshotId,
      host_id: c.hostId,
      started: c.started,
      finished: c.finished,
    })
    .execute();
}

/**
 * A new row's place in its kind's order (fault rules apply in the order they were added): one past
 * the last, computed by the database in the insert, so rows from several servers line up too.
 */
function nextPosition(kind: SimulatorObjectKind) {
  return sql<number>`(SELECT COALESCE(MAX(position), 0) + 1 FROM simulator_objects WHERE kind = ${kind})`;
}
