/**
 * Query-plan tests on SQLite: a migrated in-memory database whose every statement is captured, and
 * SQLite's EXPLAIN QUERY PLAN of a statement as one line (`SEARCH v USING INDEX … | SCAN …`), so a
 * test can assert that a list page is read through its index and never sorts or scans a table.
 *
 *   const plans = sqlitePlanDatabase();          // in a describe block: migrates before, closes after
 *   expect(plans.planOf(statement)).toContain('USING INDEX vms_live_created');
 *   const [plan] = await plans.plansOf(() => listJobs(plans.db, filter, page));
 */
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { migrationProvider } from '../../src/store/migrations.ts';
import type { Database } from '../../src/store/schema.ts';

export interface Statement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

export interface SqlitePlanDatabase {
  readonly db: Kysely<Database>;
  /** Statements run since the last `plansOf` (or `captured.length = 0`). */
  readonly captured: Statement[];
  /** SQLite's plan of one statement, its steps joined by ` | `. */
  readonly planOf: (statement: Statement) => string;
  /** The plan of every statement `work` runs, in order. */
  readonly plansOf: (work: () => Promise<unknown>) => Promise<string[]>;
}

/** Registers beforeAll/afterAll in the calling describe block: migrate to the latest, then close. */
export function sqlitePlanDatabase(): SqlitePlanDatabase {
  const sqlite = new SqliteDatabase(':memory:');
  const captured: Statement[] = [];
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  beforeAll(async () => {
    const { error } = await new Migrator({ db, provider: migrationProvider('sqlite') }).migrateToLatest();
    if (error !== undefined) throw error as Error;
  });
  afterAll(async () => {
    await db.destroy();
  });
  const planOf = (q: Statement): string =>
    (sqlite.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.parameters) as { detail: string }[])
      .map((r) => r.detail)
      .join(' | ');
  return {
    db,
    captured,
    planOf,
    plansOf: async (work) => {
      captured.length = 0;
      await work();
      return captured.map(planOf);
    },
  };
}
