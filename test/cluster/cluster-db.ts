/**
 * One database shared by several servers, for the cluster tests: a SQLite file opened through
 * separate connections (one per "server"), or a throwaway PostgreSQL database when
 * VMSNAP_TEST_PG_URL is set (see test/helpers/postgres.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { createTempDatabase, type TempDatabase } from '../helpers/postgres.ts';

export type Engine = 'sqlite' | 'postgres';

export interface SharedDatabase {
  readonly url: string;
  /** A new connection (pool) to the database, as another server would open. */
  connect(): Promise<OpenedStore>;
  drop(): Promise<void>;
}

export async function sharedDatabase(engine: Engine): Promise<SharedDatabase> {
  const opened: OpenedStore[] = [];
  let temp: TempDatabase | undefined;
  let dir: string | undefined;
  let url: string;
  if (engine === 'postgres') {
    temp = await createTempDatabase();
    url = temp.url;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-cluster-'));
    url = `sqlite:${join(dir, 'shared.sqlite')}`;
  }
  return {
    url,
    async connect() {
      const store = await openStore({ url });
      opened.push(store);
      return store;
    },
    async drop() {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
      await temp?.drop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
