/**
 * vmsnap-vendor-array: a storage driver plugin for a (simulated) vendor array.
 *
 * Load it from vmsnap's config: `{"plugins": [{"module": "./examples/vendor-array-plugin", "options": {...}}]}`.
 * State lives in the server's shared store (`host.store`, the management database: every server sees
 * one array), under the key `vendor-array/<name>`; without one, in `<dataDir>/vendor-array/<name>.json`.
 */
import { join } from 'node:path';
// Types only: nothing of vmsnap is loaded at run time, so the package works wherever it is installed.
import type { PLUGIN_API_VERSION, VmsnapPlugin } from 'vmsnap/plugin-api';
import { ArrayStorageDriver } from './array-driver.ts';
import { parseVendorArrayOptions } from './options.ts';
import { SimulatedArray } from './simulated-array.ts';

export { ArrayStorageDriver, DEFAULT_DRIVER_NAME, type ArrayStorageDriverOptions } from './array-driver.ts';
export { parseVendorArrayOptions, type VendorArrayOptions } from './options.ts';
export {
  ArrayError,
  SimulatedArray,
  type ArrayErrorCode,
  type ArrayFault,
  type ArrayOperation,
  type RevertMode,
  type SharedArrayStore,
  type SimulatedArrayOptions,
} from './simulated-array.ts';

/** Where a driver named `name` keeps its array state under the server's data directory. */
export function arrayStateFile(dataDir: string, name: string): string {
  return join(dataDir, 'vendor-array', `${name}.json`);
}

/** The key of a driver's array document in the shared store (PluginHost.store). */
export function arrayStateKey(name: string): string {
  return `vendor-array/${name}`;
}

/** Built for this version of the contract; the compiler checks it against the contract it sees. */
const apiVersion: typeof PLUGIN_API_VERSION = 1;

export default {
  name: 'vendor-array',
  apiVersion,
  register(host, rawOptions) {
    const options = parseVendorArrayOptions(rawOptions);
    const array = new SimulatedArray({
      stateFile: arrayStateFile(host.dataDir, options.name),
      // A real array is one service every management server calls; the shared store plays it here.
      ...(host.store !== undefined
        ? { shared: { store: host.store, key: arrayStateKey(options.name) } }
        : {}),
      latencyMs: options.latencyMs,
      revertMode: options.revertMode,
      maxSnapshotsPerVolume: options.maxSnapshotsPerVolume,
      pools: options.pools,
      faults: options.faults,
    });
    host.registerStorageDriver(
      new ArrayStorageDriver(array, { name: options.name, needsQuiesce: options.needsQuiesce }),
    );
    host.log.info(
      { driver: options.name, pools: array.listPools(), revertMode: options.revertMode },
      'vendor array driver registered',
    );
  },
} satisfies VmsnapPlugin;
