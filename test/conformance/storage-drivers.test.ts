/** The storage driver conformance suite against every storage driver in the repository. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger, PluginHost, StorageDriver, VmsnapPlugin } from 'vmsnap/plugin-api';
import vendorArrayPlugin from '../../examples/vendor-array-plugin/src/index.ts';
import { ArrayStorageDriver } from '../../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray } from '../../examples/vendor-array-plugin/src/simulated-array.ts';
import secondArrayPlugin from '../storage-integration/second-array-plugin.ts';
import { PerVolumeDriver } from '../storage/per-volume-driver.ts';
import { storageDriverSuite, type DriverUnderTest } from './storage-driver-suite.ts';

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

storageDriverSuite('vendor array plugin (as loaded, state on disk)', () => fromPlugin(vendorArrayPlugin));
storageDriverSuite(
  'vendor array plugin, latest-only',
  () => fromPlugin(vendorArrayPlugin, { revertMode: 'latest-only' }),
  { latestOnly: true },
);
storageDriverSuite('vendor array driver, in memory', inMemoryArray('any'));
storageDriverSuite('second array plugin', () => fromPlugin(secondArrayPlugin, { name: 'second-array' }));
storageDriverSuite('per-volume driver (no group methods)', async () => ({ driver: new PerVolumeDriver() }));
storageDriverSuite(
  'per-volume driver, latest-only',
  async () => ({ driver: new PerVolumeDriver('zfs', 0, {}, true) }),
  { latestOnly: true },
);
