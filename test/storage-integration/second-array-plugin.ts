/**
 * A second copy of the vendor array plugin under another plugin name, so one server can load two
 * arrays: the loader refuses the same plugin name twice, as it should (two plugins both called
 * `vendor-array` would be ambiguous in logs and errors). It is what an operator with two arrays of
 * the same vendor would write: the vendor's plugin, renamed.
 */
import { definePlugin } from 'vmsnap/plugin-api';
import vendorArrayPlugin from '../../examples/vendor-array-plugin/src/index.ts';

export const SECOND_ARRAY_PLUGIN_NAME = 'vendor-array-second';

export default definePlugin({ ...vendorArrayPlugin, name: SECOND_ARRAY_PLUGIN_NAME });
