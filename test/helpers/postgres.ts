/**
 * A throwaway PostgreSQL database per test file. `.ci/run` starts a cluster and sets
 * VMSNAP_TEST_PG_URL; locally the tests skip with a reason when it is unset, but never in CI.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env['VMSNAP_TEST_PG_URL'];

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. Throws in CI: no silent skips.
 * The reason is also printed: vitest's default reporter (`npm test`) shows a skipped suite only as a
 * count, never by its name, but it shows what a test file writes to the console, under the file.
 */
export function postgresUnavailable(): string | undefined {
  if (PG_URL !== undefined && PG_URL !== '') return undefined;
  if (process.env['CI'] === 'true') {
    throw new Error('VMSNAP_TEST_PG_URL is not set in CI: .ci/run must start PostgreSQL');
  }
  const reason =
    'PostgreSQL tests skipped: set VMSNAP_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:55432/postgres)';
  console.warn(reason);
  return reason;
}

export interface TempDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTempDatabase(): Promise<TempDatabase> {
  if (PG_URL === undefined) throw new Error('VMSNAP_TEST_PG_URL is not set');
  const name = `vmsnap_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
