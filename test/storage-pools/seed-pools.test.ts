/**
 * Issue 11, item 1: seeding declares its pools the way an operator would, through createStoragePool's
 * manager path: the file pools with `file://` URLs on the built-in `file` driver, and the example
 * vendor array with `provider=vendor-array`, which the array itself validates. Before, the seed wrote
 * pool rows directly (driver `hypervisor`, no URL) and never asked the array.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/app-config.ts';
import { seed } from '../../src/app/seed.ts';
import { arrayOf, FIRST_DRIVER, vendorPlugin } from '../storage-integration/array-fixtures.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';

const scratch = useScratchDirs('seed-pools');

describe('seeding pools through createStoragePool', () => {
  it('creates the file pools and the array pool with their providers and URLs, the array asked first', async () => {
    const dir = scratch.dir();
    const app = await scratch.open(loadConfig(dir, { plugins: [vendorPlugin()] }));
    const asked = arrayOf(app, FIRST_DRIVER).callCount('list');
    await seed(app);
    const pools = (await app.deps.inventory.listPools()).map((p) => ({
      name: p.name,
      driver: p.driver,
      url: p.url,
      path: p.path,
      scope: p.scope,
      state: p.state,
    }));
    expect(pools).toEqual([
      {
        name: 'sim-primary-1',
        driver: 'file',
        url: 'file:///sim/sim-primary-1',
        path: '/sim/sim-primary-1',
        scope: 'ZONE',
        state: 'Up',
      },
      {
        name: 'sim-primary-2',
        driver: 'file',
        url: 'file:///sim/sim-primary-2',
        path: '/sim/sim-primary-2',
        scope: 'ZONE',
        state: 'Up',
      },
      {
        name: 'array-pool-1',
        driver: 'vendor-array',
        url: 'vendor-array://array-pool-1',
        path: 'array-pool-1',
        scope: 'ZONE',
        state: 'Up',
      },
    ]);
    expect(arrayOf(app, FIRST_DRIVER).callCount('list')).toBeGreaterThan(asked);
    const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === 'array-1');
    const volumes = await app.deps.inventory.volumesOf(vm!.id);
    expect(volumes.map((v) => v.pool.name)).toEqual(['array-pool-1', 'array-pool-1']);
  });

  it("fails with the provider's error when the array does not answer, and creates no array pool", async () => {
    const dir = scratch.dir();
    const faults = [{ op: 'list', count: 1, message: 'array controller offline' }];
    const app = await scratch.open(loadConfig(dir, { plugins: [vendorPlugin({ faults })] }));
    await expect(seed(app)).rejects.toThrow('Failed to add data store: array controller offline');
    const names = (await app.deps.inventory.listPools()).map((p) => p.name);
    expect(names).toEqual(['sim-primary-1', 'sim-primary-2']);
  });
});
