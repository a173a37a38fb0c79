/**
 * Opening the store: SQLite (embedded default, WAL) or PostgreSQL (several management servers).
 * This is the only module that knows which engine is underneath.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider, type Dialect } from './migrations.ts';
import type { Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';
import { SecretColumnsPlugin, sealSecretColumns } from './secret-columns.ts';
import type { Logger } from '../core/plugin-api.ts';

export type Db = Kysely<Database>;

export interface StoreConfig {
  /** `sqlite:<file>` / `sqlite::memory:` / `postgres://…` */
  readonly url: string;
  /**
   * Seals the secret columns at rest (src/store/secret-columns.ts). The server always passes one;
   * without it (tests of the store alone) those columns hold what was written.
   */
  readonly secrets?: SecretBox;
}

export interface OpenedStore {
  readonly db: Db;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

// PostgreSQL returns int8 as strings by default; all our bigints are epoch ms and fit a double.
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openStore(config: StoreConfig, log?: Logger): Promise<OpenedStore> {
  const dialect: Dialect = config.url.startsWith('postgres') ? 'postgres' : 'sqlite';
  const raw =
    dialect === 'postgres'
      ? new Kysely<Database>({ dialect: new PostgresDialect({ pool: openPgPool(config.url, log) }) })
      : new Kysely<Database>({ dialect: new SqliteDialect({ database: openSqlite(config.url) }) });
  try {
    await migrate(raw, dialect);
    if (config.secrets === undefined) return { db: raw, dialect, close: () => raw.destroy() };
    const sealed = await sealSecretColumns(raw, config.secrets);
    if (sealed > 0) log?.info({ sealed }, 'encrypted secrets that were stored in plain text');
  } catch (err) {
    await raw.destroy();
    throw err;
  }
  // Same connections; every query through `db` seals and opens the secret columns.
  const db = raw.withPlugin(new SecretColumnsPlugin(config.secrets));
  return { db, dialect, close: () => db.destroy() };
}

/**
 * An idle pooled connection that PostgreSQL closes (restart, failover, an admin's terminate) makes
 * the pool emit 'error'; unheard, that event would kill the process. The pool drops the client and
 * the next query opens a new one, so logging is all there is to do.
 */
function openPgPool(url: string, log: Logger | undefined): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', (err) => log?.warn({ err: err.message }, 'idle PostgreSQL connection lost'));
  return pool;
}

/** A unique index refused a write, on either engine. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

function openSqlite(url: string): SqliteDatabase.Database {
  const file = url.replace(/^sqlite:/, '');
  if (file !== ':memory:') createPrivately(file);
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return withStatementCache(sqlite);
}

/**
 * The database file is created (or narrowed to) 0600 in a 0700 folder before SQLite opens it: SQLite
 * gives the -wal and -shm files the mode of the database file, so they follow. Whatever the umask.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (existsSync(file)) chmodSync(file, 0o600);
  else closeSync(openSync(file, 'a', 0o600));
  for (const extra of [`${file}-wal`, `${file}-shm`]) if (existsSync(extra)) chmodSync(extra, 0o600);
}

/**
 * Kysely prepares every query it runs; preparing is ~half the cost of a small SQLite query. The
 * same SQL text (parameters are bound separately) reuses its statement. Bounded, oldest evicted.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  const cached = (source: string): SqliteDatabase.Statement => {
    let statement = cache.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      cache.set(source, statement);
      if (cache.size > 2000) cache.delete(cache.keys().next().value ?? source);
    }
    return statement;
  };
  sqlite.prepare = cached as typeof sqlite.prepare;
  return sqlite;
}

async function migrate(db: Db, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    const reason =
      error instanceof Error ? error.message : `migration ${failed?.migrationName ?? 'unknown'} failed`;
    throw new Error(`database migration failed: ${reason}`);
  }
}
