/**
 * The example plugin loaded the way a third party would load it: named by its package path in
 * `<data-dir>/config.json`, read by `loadConfig`, imported by the plugin loader when the App opens.
 * Also the out-of-the-box path: the config `vmsnap serve` writes on first start loads the plugin and
 * the seed serves `array-1` from `array-pool-1`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.ts';
import { configPath, loadConfig, type AppConfig } from '../../src/app/app-config.ts';
import { isSeeded, seed } from '../../src/app/seed.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';
import { FIRST_DRIVER, VENDOR_PLUGIN_DIR, arrayOf } from './array-fixtures.ts';

const REPO = resolve(import.meta.dirname, '../..');

const scratch = useScratchDirs('config');

function writeConfig(dir: string, config: unknown): void {
  writeFileSync(configPath(dir), JSON.stringify(config, null, 2));
}

/** The App on `config`, as the vendor plugin's tests run it (short guest-agent timeouts). */
function open(config: AppConfig): Promise<App> {
  return scratch.open(config, { simulator: { guestAgentTimeoutMs: 300 } });
}

/** What the seed put on the array: the pool's driver and array-1's volumes with their drivers. */
async function arraySeed(
  app: App,
): Promise<{ pool: string | undefined; vm: string | undefined; drivers: string[] }> {
  const pool = await app.deps.db
    .selectFrom('storage_pools')
    .select('driver')
    .where('name', '=', 'array-pool-1')
    .executeTakeFirst();
  const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === 'array-1');
  const drivers = vm === undefined ? [] : (await app.deps.inventory.volumesOf(vm.id)).map((v) => v.driver);
  return { pool: pool?.driver, vm: vm?.state, drivers };
}

async function snapshotArrayVm(app: App): Promise<{ strategy: string | null; state: string | undefined }> {
  const caller = await app.systemCaller();
  const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === 'array-1');
  if (caller === undefined || vm === undefined) throw new Error('not seeded');
  const { snapshot, jobId } = await app.snapshotManager.create(caller, { vmId: vm.id, quiesce: true });
  await app.deps.jobs.waitFor(jobId, 10_000);
  return { strategy: snapshot.strategy, state: (await app.deps.snapshots.get(snapshot.id))?.state };
}

describe('the vendor array plugin loaded from config.json', () => {
  it('by its package path: the driver is registered with the configured options and serves array-1', async () => {
    const dir = scratch.dir();
    writeConfig(dir, {
      plugins: [{ module: VENDOR_PLUGIN_DIR, options: { latencyMs: 7, revertMode: 'latest-only' } }],
    });

    const config = loadConfig(dir);
    expect(config.plugins).toEqual([
      { module: VENDOR_PLUGIN_DIR, options: { latencyMs: 7, revertMode: 'latest-only' } },
    ]);
    const app = await open(config);
    expect(app.plugins).toEqual([
      { name: 'vendor-array', module: VENDOR_PLUGIN_DIR, resolved: join(VENDOR_PLUGIN_DIR, 'src/index.ts') },
    ]);
    const driver = app.deps.registry.storageDrivers.get(FIRST_DRIVER);
    expect(driver?.capabilities).toMatchObject({ canSnapshot: true, needsQuiesce: true });
    expect(arrayOf(app, FIRST_DRIVER).revertMode).toBe('latest-only');
    expect(arrayOf(app, FIRST_DRIVER).latencyMs).toBe(7);

    await seed(app);
    expect(await arraySeed(app)).toEqual({
      pool: FIRST_DRIVER,
      vm: 'Running',
      drivers: [FIRST_DRIVER, FIRST_DRIVER],
    });
    await app.start();
    expect(await snapshotArrayVm(app)).toEqual({ strategy: 'storage', state: 'Ready' });
    expect(arrayOf(app, FIRST_DRIVER).callCount('take')).toBe(1);
  });

  it('by a relative path, resolved from the plugin base directory', async () => {
    const dir = scratch.dir();
    writeConfig(dir, {
      plugins: [{ module: './examples/vendor-array-plugin', options: { name: FIRST_DRIVER } }],
    });

    const app = await open(loadConfig(dir, { pluginBaseDir: REPO }));

    expect(app.plugins[0]?.resolved).toBe(join(VENDOR_PLUGIN_DIR, 'src/index.ts'));
    expect([...app.deps.registry.storageDrivers.keys()].at(-1)).toBe(FIRST_DRIVER);
  });

  it('a bad option in config.json stops the App with a message naming the plugin and the option', async () => {
    const dir = scratch.dir();
    writeConfig(dir, { plugins: [{ module: VENDOR_PLUGIN_DIR, options: { latencyMs: 'fast' } }] });

    await expect(open(loadConfig(dir))).rejects.toThrow(
      /Plugin "vendor-array" from ".*vendor-array-plugin" failed to register: .*option latencyMs must be a non-negative number/,
    );
  });
});

describe('the config vmsnap serve writes on first start', () => {
  it('loads the plugin, and seeding serves array-1 from array-pool-1', async () => {
    const served = scratch.dir();
    const output = await runServeOnce(served);
    expect(output).toMatch(/plugins:\s+vendor-array/);
    expect(output).toMatch(/strategies:\s+hypervisor, storage/);

    // The file serve wrote names the example plugin by its package path.
    const written = JSON.parse(readFileSync(configPath(served), 'utf8')) as AppConfig;
    expect(written.plugins.map((p) => p.module)).toEqual([VENDOR_PLUGIN_DIR]);

    // The data dir serve left behind: reopened through loadConfig, it has the driver and the seed.
    const reopened = await open(loadConfig(served));
    expect(reopened.deps.registry.storageDrivers.has(FIRST_DRIVER)).toBe(true);
    expect(await isSeeded(reopened)).toBe(true);
    expect(await arraySeed(reopened)).toMatchObject({
      pool: FIRST_DRIVER,
      drivers: [FIRST_DRIVER, FIRST_DRIVER],
    });
    expect(await new AccountStore(reopened.deps.db).findAccountByName('admin')).toBeDefined();

    // The same config on a fresh data dir: App.open + seed creates the array pool and VM.
    const fresh = scratch.dir();
    writeFileSync(configPath(fresh), readFileSync(configPath(served)));
    const app = await open(loadConfig(fresh));
    expect(app.plugins.map((p) => p.name)).toEqual(['vendor-array']);
    await seed(app);
    expect(await arraySeed(app)).toEqual({
      pool: FIRST_DRIVER,
      vm: 'Running',
      drivers: [FIRST_DRIVER, FIRST_DRIVER],
    });
  });
});

/** Runs `vmsnap serve --port 0` on an empty data dir until it is up, then stops it with SIGTERM. */
async function runServeOnce(dataDir: string): Promise<string> {
  const run = scratch.serve(dataDir, { env: { VMSNAP_LOG_LEVEL: 'silent' } });
  const stdout = await run.ready();
  await run.stop();
  // A clean shutdown exits 0. serve prints its banner before it installs its SIGTERM handler, so a
  // SIGTERM sent right after the banner may still meet the default action: accept that too.
  expect([
    { code: 0, signal: null },
    { code: null, signal: 'SIGTERM' },
  ]).toContainEqual({ code: await run.exited, signal: run.proc.signalCode });
  return stdout;
}
