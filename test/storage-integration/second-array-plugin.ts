/**
 * A second copy of the vendor array plugin under another plugin name, so one server can load two
 * arrays: the loader refuses the same plugin name twice, as it should (two plugins both called
 * `vendor-array` would be ambiguous in logs and errors). It is what an operator with two arrays of
 * the same vendor would write: a few lines on top of the vendor package's public exports.
 */
import { definePlugin } from '../../src/core/plugin-api.ts';
import {
  ArrayStorageDriver,
  SimulatedArray,
  arrayStateFile,
  parseVendorArrayOptions,
} from '../../examples/vendor-array-plugin/src/index.ts';

export const SECOND_ARRAY_PLUGIN_NAME = 'vendor-array-second';

export default definePlugin({
  name: SECOND_ARRAY_PLUGIN_NAME,
  register(host, rawOptions) {
    const options = parseVendorArrayOptions(rawOptions);
    const array = new SimulatedArray({
      stateFile: arrayStateFile(host.dataDir, options.name),
      latencyMs: options.latencyMs,
      revertMode: options.revertMode,
      maxSnapshotsPerVolume: options.maxSnapshotsPerVolume,
      pools: options.pools,
      faults: options.faults,
    });
    host.registerStorageDriver(
      new ArrayStorageDriver(array, { name: options.name, needsQuiesce: options.needsQuiesce }),
    );
  },
});
