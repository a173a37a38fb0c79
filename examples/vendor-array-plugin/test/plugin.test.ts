import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger, PluginHost, StorageDriver, VolumeInfo } from 'vmsnap/plugin-api';
import { loadPlugins } from '../../../src/plugins/plugin-loader.ts';
import { parseVendorArrayOptions } from '../src/options.ts';
import { ArrayStorageDriver } from '../src/array-driver.ts';

/** The base directory these tests resolve `./examples/vendor-array-plugin` against. */
const repoRoot = resolve(import.meta.dirname, '../../..');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function recordingHost(): PluginHost & { drivers: StorageDriver[] } {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmsnap-data-'));
  dirs.push(dataDir);
  const quiet = (): void => undefined;
  const log: Logger = { info: quiet, warn: quiet, error: quiet, debug: quiet };
  const drivers: StorageDriver[] = [];
  return {
    dataDir,
    log,
    drivers,
    registerStorageDriver: (driver) => drivers.push(driver),
    registerStrategy: () => {
      throw new Error('the vendor array plugin registers no strategy');
    },
  };
}

const volume: VolumeInfo = {
  id: 'vol-1',
  name: 'root',
  type: 'ROOT',
  poolId: 'gold',
  driver: 'netapp',
  pool: {
    id: 'gold',
    name: 'gold',
    zoneId: 'zone-1',
    provider: 'netapp',
    url: 'netapp://gold',
    details: {},
    scope: 'ZONE',
    hostId: null,
    path: 'gold',
  },
  format: 'RAW',
  path: '/dev/array/vol-1',
  size: 10,
  deviceId: 0,
};

describe('the vendor array plugin, loaded from its package path', () => {
  it('registers a driver with the configured name, capabilities and pools', async () => {
    const host = recordingHost();
    const loaded = await loadPlugins(
      [
        {
          module: './examples/vendor-array-plugin',
          options: { name: 'netapp', revertMode: 'latest-only', maxSnapshotsPerVolume: 64, pools: ['gold'] },
        },
      ],
      host,
      repoRoot,
    );

    expect(loaded).toEqual([
      {
        name: 'vendor-array',
        module: './examples/vendor-array-plugin',
        resolved: join(repoRoot, 'examples/vendor-array-plugin/src/index.ts'),
      },
    ]);
    expect(host.drivers).toHaveLength(1);
    const driver = host.drivers[0]!;
    expect(driver.name).toBe('netapp');
    expect(driver.capabilities).toMatchObject({ maxSnapshotsPerVolume: 64 });
    expect((driver as ArrayStorageDriver).array.revertMode).toBe('latest-only');
    expect(existsSync(join(host.dataDir, 'vendor-array', 'netapp.json'))).toBe(true);
  });

  it('keeps its snapshots across a server restart (a second load on the same data dir)', async () => {
    const host = recordingHost();
    const spec = [{ module: './examples/vendor-array-plugin', options: { name: 'netapp' } }];
    await loadPlugins(spec, host, repoRoot);
    const taken = await host.drivers[0]!.takeVolumeSnapshot(volume, { id: 's', name: 's', vmId: 'vm' });

    const restarted = { ...host, drivers: [] as StorageDriver[] };
    restarted.registerStorageDriver = (d) => restarted.drivers.push(d);
    await loadPlugins(spec, restarted, repoRoot);
    expect(await restarted.drivers[0]!.listVolumeSnapshots(volume)).toEqual([taken.ref]);
  });

  it('uses the default driver name and exposes the array for run-time faults', async () => {
    const host = recordingHost();
    await loadPlugins([{ module: './examples/vendor-array-plugin' }], host, repoRoot);
    const driver = host.drivers[0]!;
    expect(driver.name).toBe('vendor-array');
    expect(driver).toBeInstanceOf(ArrayStorageDriver);
    (driver as ArrayStorageDriver).array.failNext({ op: 'take', count: 1 });
    await expect(driver.takeVolumeSnapshot(volume, { id: 's', name: 's', vmId: 'vm' })).rejects.toThrow(
      'injected take fault',
    );
  });

  it('refuses bad options with a message naming the option', async () => {
    const host = recordingHost();
    await expect(
      loadPlugins(
        [{ module: './examples/vendor-array-plugin', options: { revertMode: 'oldest' } }],
        host,
        repoRoot,
      ),
    ).rejects.toThrow(
      'Plugin "vendor-array" from "./examples/vendor-array-plugin" failed to register: vendor-array: option revertMode must be "any" or "latest-only", got "oldest"',
    );
    expect(host.drivers).toEqual([]);
  });
});

describe('option parsing', () => {
  it('fills defaults', () => {
    expect(parseVendorArrayOptions({})).toEqual({
      name: 'vendor-array',
      latencyMs: 0,
      revertMode: 'any',
      maxSnapshotsPerVolume: null,
      pools: [],
      faults: [],
      needsQuiesce: true,
    });
  });

  it('accepts every option', () => {
    const parsed = parseVendorArrayOptions({
      name: 'pure',
      latencyMs: 5,
      revertMode: 'latest-only',
      maxSnapshotsPerVolume: 10,
      pools: ['a', 'b'],
      faults: [{ op: 'take', count: 2, message: 'boom' }],
      needsQuiesce: false,
    });
    expect(parsed.faults).toEqual([{ op: 'take', count: 2, message: 'boom' }]);
    expect(parsed.latencyMs).toBe(5);
    expect(parsed.needsQuiesce).toBe(false);
  });

  it.each([
    [{ latencyMs: -1 }, 'option latencyMs must be a non-negative number, got -1'],
    [{ pools: 'gold' }, 'option pools must be an array of strings'],
    [{ faults: [{ op: 'explode', count: 1 }] }, 'option faults[].op must be take | revert | delete | list'],
    [{ faults: [{ op: 'take', count: 1.5 }] }, 'option faults[].count must be a non-negative integer'],
    [{ needsQuiesce: 'yes' }, 'option needsQuiesce must be true or false'],
    [{ name: '' }, 'option name must be a non-empty string'],
  ])('rejects %j', (raw, message) => {
    expect(() => parseVendorArrayOptions(raw)).toThrow(message);
  });
});
