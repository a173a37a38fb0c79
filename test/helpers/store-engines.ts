/**
 * The two engines a store test runs on: SQLite in memory, and PostgreSQL in a throwaway database.
 * PostgreSQL is left out locally when VMSNAP_TEST_PG_URL is not set (postgresUnavailable says why),
 * never in CI, where its absence fails the run.
 */
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { createTempDatabase, postgresUnavailable } from './postgres.ts';

export interface StoreEngine {
  readonly name: 'sqlite' | 'postgres';
  /** A database URL for one test, and how to throw the database away after it. */
  url(): Promise<{ url: string; drop: () => Promise<void> }>;
  /** A migrated store on a fresh database, and how to throw the database away after closing it. */
  open(): Promise<{ store: OpenedStore; drop: () => Promise<void> }>;
}

const sqlite: StoreEngine = {
  name: 'sqlite',
  url: async () => ({ url: 'sqlite::memory:', drop: async () => {} }),
  open: async () => ({ store: await openStore({ url: 'sqlite::memory:' }), drop: async () => {} }),
};

const postgres: StoreEngine = {
  name: 'postgres',
  async url() {
    const temp = await createTempDatabase();
    return { url: temp.url, drop: () => temp.drop() };
  },
  async open() {
    const temp = await createTempDatabase();
    return { store: await openStore({ url: temp.url }), drop: () => temp.drop() };
  },
};

/** SQLite, and PostgreSQL when there is one (see above). */
export function storeEngines(): StoreEngine[] {
  return postgresUnavailable() === undefined ? [sqlite, postgres] : [sqlite];
}
