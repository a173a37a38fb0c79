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

/** An engine from how it makes a database: `open` is a store on a fresh one. */
function engine(name: StoreEngine['name'], url: StoreEngine['url']): StoreEngine {
  return {
    name,
    url,
    async open() {
      const fresh = await url();
      return { store: await openStore({ url: fresh.url }), drop: fresh.drop };
    },
  };
}

const sqlite = engine('sqlite', async () => ({ url: 'sqlite::memory:', drop: async () => {} }));
const postgres = engine('postgres', async () => {
  const temp = await createTempDatabase();
  return { url: temp.url, drop: () => temp.drop() };
});

/** SQLite, and PostgreSQL when there is one (see above). */
export function storeEngines(): StoreEngine[] {
  return postgresUnavailable() === undefined ? [sqlite, postgres] : [sqlite];
}
