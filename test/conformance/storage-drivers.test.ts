/**
 * The storage driver conformance suite against every storage driver that needs no outside system:
 * the vendor example (as a plugin loads it, and in memory), the test drivers, and the built-in
 * `file` driver. The `ceph-rbd` and `btrfs` drivers run it on a real Ceph and a real btrfs
 * (test/ceph/ceph-rbd-conformance.test.ts, test/btrfs/btrfs-conformance.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { Logger, PluginHost, StorageDriver, VmsnapPlugin } from 'vmsnap/plugin-api';
import vendorArrayPlugin from '../../examples/vendor-array-plugin/src/index.ts';
import { ArrayStorageDriver } from '../../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray } from '../../examples/vendor-array-plugin/src/simulated-array.ts';
import secondArrayPlugin from '../storage-integration/second-array-plugin.ts';
import { FileStorageDriver } from '../../src/storage-drivers/file/file-storage-driver.ts';
import { PerVolumeDriver } from '../storage/per-volume-driver.ts';
import { storageDriverSuite, type DriverUnderTest, type ProviderCases } from './storage-driver-suite.ts';

/** A driver as a plugin registers it, with its state under a data dir of its own. */
async function fromPlugin(
  plugin: VmsnapPlugin,
  options: Readonly<Record<string, unknown>> = {},
): Promise<DriverUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmsnap-conformance-'));
  const drivers: StorageDriver[] = [];
  const quiet = (): void => undefined;
  const log: Logger = { info: quiet, warn: quiet, error: quiet, debug: quiet };
  const host: PluginHost = {
    dataDir,
    log,
    registerStorageDriver: (d) => drivers.push(d),
    registerStrategy: () => {
      throw new Error(`${plugin.name} registers no strategy`);
    },
  };
  await plugin.register(host, options);
  if (drivers.length !== 1) throw new Error(`${plugin.name} registered ${drivers.length} drivers`);
  return { driver: drivers[0]!, close: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

const inMemoryArray = (revertMode: 'any' | 'latest-only') => async (): Promise<DriverUnderTest> => ({
  driver: new ArrayStorageDriver(new SimulatedArray({ stateFile: null, revertMode }), { name: 'array' }),
});

/** A zone-wide pool spec on `url`. */
const zonePool = (url: string) => ({
  name: 'conformance',
  zoneId: 'zone-1',
  url,
  details: {},
  scope: 'ZONE' as const,
  hostId: null,
});

/** An array pool is `<driver name>://<pool name>`; anything else is refused, saying the form. */
const arrayPools = (scheme: string) => (): ProviderCases => ({
  valid: zonePool(`${scheme}://gold`),
  invalid: zonePool(`nfs://filer/gold`),
  refusal: new RegExp(`the url of an array pool is ${scheme}://<pool name>`),
});

storageDriverSuite('vendor array plugin (as loaded, state on disk)', () => fromPlugin(vendorArrayPlugin), {
  pools: arrayPools('vendor-array'),
});
storageDriverSuite(
  'vendor array plugin, latest-only',
  () => fromPlugin(vendorArrayPlugin, { revertMode: 'latest-only' }),
  { latestOnly: true, pools: arrayPools('vendor-array') },
);
storageDriverSuite('vendor array driver, in memory', inMemoryArray('any'), { pools: arrayPools('array') });
storageDriverSuite('second array plugin', () => fromPlugin(secondArrayPlugin, { name: 'second-array' }), {
  pools: arrayPools('second-array'),
});
storageDriverSuite('per-volume driver (no group methods)', async () => ({ driver: new PerVolumeDriver() }));
storageDriverSuite(
  'per-volume driver, latest-only',
  async () => ({ driver: new PerVolumeDriver('zfs', 0, {}, true) }),
  { latestOnly: true },
);

// The built-in `file` driver: its pools are folders the hypervisor snapshots (the hypervisor agent
// conformance suite covers that), so it must refuse snapshot calls; its provider measures the folder.
const folders: string[] = [];
afterAll(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});
storageDriverSuite('file (built-in)', async () => ({ driver: new FileStorageDriver() }), {
  snapshots: false,
  pools: () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-file-pool-'));
    folders.push(dir);
    return {
      valid: zonePool(`file://${dir}`),
      invalid: zonePool(`file://${dir}/../elsewhere`),
      refusal: /absolute, normalised folder/,
    };
  },
});
