/**
 * `npm run build:console` (and npm's `prepare`, so `npm ci` runs it): bundles the web console into
 * dist/console. `vmsnap serve` also runs the same build at start when the bundle is stale.
 */
import { relative } from 'node:path';
import { buildConsole } from '../src/cli/console-build.ts';

const built = await buildConsole();
process.stderr.write(
  `web console built into ${relative(process.cwd(), built.dir) || '.'} in ${Math.round(built.ms)} ms: ${built.files.join(', ')}\n`,
);
