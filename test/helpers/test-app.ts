/** A real App (SQLite file, simulator, job queue) in a temp dir, seeded, for manager-level tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { App, type AppOptions } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { seed, type SeedResult } from '../../src/app/seed.ts';
import type { Caller } from '../../src/manager/caller.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import type { StoredVm } from '../../src/store/inventory-store.ts';

export interface TestApp {
  readonly app: App;
  readonly dir: string;
  readonly seeded: SeedResult;
  readonly admin: Caller;
  readonly demo: Caller;
  vm(displayName: string): Promise<StoredVm>;
  close(): Promise<void>;
}

export const quietLog = pino({ level: process.env['VMSNAP_TEST_LOG'] ?? 'silent' });

export async function openTestApp(
  opts: Partial<AppOptions> & {
    dir?: string;
    databaseUrl?: string;
    plugins?: AppOptions['config']['plugins'];
  } = {},
): Promise<TestApp> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vmsnap-test-'));
  const config = loadConfig(dir, {
    plugins: opts.plugins ?? [],
    ...(opts.databaseUrl !== undefined ? { databaseUrl: opts.databaseUrl } : {}),
  });
  const app = await App.open({
    config,
    log: quietLog,
    simulator: { guestAgentTimeoutMs: 300 },
    ...opts,
  });
  const seeded = await seed(app);
  await app.start();
  const accounts = new AccountStore(app.deps.db);
  const caller = async (apiKey: string): Promise<Caller> => {
    const found = await accounts.findByApiKey(apiKey);
    if (found === undefined) throw new Error('seeded user missing');
    return {
      accountId: found.account.id,
      accountName: found.account.name,
      userId: found.user.id,
      isAdmin: found.account.role === 'admin',
    };
  };
  return {
    app,
    dir,
    seeded,
    admin: await caller(seeded.admin.apiKey),
    demo: await caller(seeded.demo.apiKey),
    async vm(displayName) {
      const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === displayName);
      if (vm === undefined) throw new Error(`no VM ${displayName}`);
      return vm;
    },
    async close() {
      await app.stop();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
