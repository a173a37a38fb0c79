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

export type SimulatorObjectKind = 'vm' | 'guest-agent' | 'fault';

export interface SimulatorObjectRow {
  readonly name: string;
  readonly body: string;
  readonly version: number;
}

export class SimulatorWorldStore {
  constructor(private readonly db: Db) {}

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

  async put(
    kind: SimulatorObjectKind,
    name: string,
    body: string,
    expected: number | null,
  ): Promise<boolean> {
    const now = Date.now();
    if (expected === null) {
      const inserted = await this.db
        .insertInto('simulator_objects')
        .values({ kind, name, body, version: 1, position: nextPosition(kind), updated: now })
        .onConflict((oc) => oc.columns(['kind', 'name']).doNothing())
        .executeTakeFirst();
      return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
    }
    const updated = await this.db
      .updateTable('simulator_objects')
      .set({ body, version: expected + 1, updated: now })
      .where('kind', '=', kind)
      .where('name', '=', name)
      .where('version', '=', expected)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
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

/**
 * A new row's place in its kind's order (fault rules apply in the order they were added): one past
 * the last, computed by the database in the insert, so rows from several servers line up too.
 */
function nextPosition(kind: SimulatorObjectKind) {
  return sql<number>`(SELECT COALESCE(MAX(position), 0) + 1 FROM simulator_objects WHERE kind = ${kind})`;
}
