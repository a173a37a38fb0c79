/**
 * Two management servers in this process on one PostgreSQL database: the first seeds it (as the
 * first `vmsnap serve` does), the second joins it with the same URL.
 */
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppOptions } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { createTempDatabase } from '../helpers/postgres.ts';
import { openTestApp, quietLog, type TestApp } from '../helpers/test-app.ts';

export interface TwoServers {
  readonly a: TestApp;
  readonly b: App;
  close(): Promise<void>;
}

export async function twoServersOnPostgres(options: Partial<AppOptions> = {}): Promise<TwoServers> {
  const db = await createTempDatabase();
  const a = await openTestApp({ databaseUrl: db.url, ...options });
  const dirB = mkdtempSync(join(tmpdir(), 'vmsnap-server-b-'));
  // Servers sharing a database share its key for secrets at rest (docs/security.md).
  copyFileSync(join(a.dir, 'secret.key'), join(dirB, 'secret.key'));
  chmodSync(join(dirB, 'secret.key'), 0o600);
  const b = await App.open({
    config: loadConfig(dirB, { plugins: [], databaseUrl: db.url }),
    log: quietLog,
    simulator: { guestAgentTimeoutMs: 300 },
    ...options,
  });
  await b.start();
  return {
    a,
    b,
    async close() {
      await b.stop().catch(() => undefined);
      await a.close().catch(() => undefined);
      rmSync(dirB, { recursive: true, force: true });
      await db.drop();
    },
  };
}
