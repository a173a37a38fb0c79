import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PLUGIN_API_VERSION,
  type Logger,
  type PluginHost,
  type StorageDriver,
  type VmSnapshotStrategy,
} from 'vmsnap/plugin-api';
import { loadPlugins, resolvePluginModule } from '../../src/plugins/plugin-loader.ts';

let base: string;

/** Plugin fixtures as plain ESM files, the way a third party might ship a built plugin. */
const fixtures: Record<string, string> = {
  'good.mjs': `export default {
    name: 'good',
    apiVersion: 1,
    register(host, options) {
      host.registerStrategy({ name: 'good-strategy', options });
    },
  };`,
  'async-good.mjs': `export default {
    name: 'async-good',
    apiVersion: 1,
    async register(host) {
      await new Promise((r) => setTimeout(r, 5));
      host.registerStorageDriver({ name: 'late-driver' });
    },
  };`,
  'no-default.mjs': `export const name = 'x';`,
  'no-register.mjs': `export default { name: 'half', apiVersion: 1 };`,
  'no-name.mjs': `export default { apiVersion: 1, register() {} };`,
  'a-function.mjs': `export default function register() {}`,
  'throws.mjs': `export default { name: 'boom', apiVersion: 1, register() { throw new Error('license key missing'); } };`,
  'syntax-error.mjs': `export default {`,
  'twin.mjs': `export default { name: 'good', apiVersion: 1, register() {} };`,
  'pkg/package.json': JSON.stringify({ name: 'pkg', type: 'module', main: 'lib/entry.mjs' }),
  'pkg/lib/entry.mjs': `export default { name: 'from-package', apiVersion: 1, register(host) { host.registerStorageDriver({ name: 'pkg-driver' }); } };`,
  'pkg-no-main/package.json': JSON.stringify({ name: 'pkg-no-main', type: 'module' }),
  'pkg-no-main/index.js': `export default { name: 'index-default', apiVersion: 1, register() {} };`,
  'bare-dir/readme.txt': 'no package.json here',
  // Built for other versions of the contract: `register` records that it ran, which it must not.
  'api-v2.mjs': `export default { name: 'from-the-future', apiVersion: 2, register() { globalThis.registeredBadApi = true; } };`,
  'api-v0.mjs': `export default { name: 'ancient', apiVersion: 0, register() { globalThis.registeredBadApi = true; } };`,
  'api-none.mjs': `export default { name: 'unversioned', register() { globalThis.registeredBadApi = true; } };`,
};

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'vmsnap-plugins-'));
  for (const [path, text] of Object.entries(fixtures)) {
    mkdirSync(join(base, path, '..'), { recursive: true });
    writeFileSync(join(base, path), text);
  }
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

function host() {
  const strategies: unknown[] = [];
  const drivers: unknown[] = [];
  const infos: unknown[] = [];
  const quiet = (): void => undefined;
  const log: Logger = { info: (o) => infos.push(o), warn: quiet, error: quiet, debug: quiet };
  const h: PluginHost = {
    dataDir: base,
    log,
    registerStrategy: (s: VmSnapshotStrategy) => strategies.push(s),
    registerStorageDriver: (d: StorageDriver) => drivers.push(d),
  };
  return { h, strategies, drivers, infos };
}

describe('loadPlugins', () => {
  it('loads a plugin file relative to the base directory and passes its options', async () => {
    const { h, strategies, infos } = host();
    const loaded = await loadPlugins([{ module: './good.mjs', options: { level: 3 } }], h, base);
    expect(loaded).toEqual([{ name: 'good', module: './good.mjs', resolved: join(base, 'good.mjs') }]);
    expect(strategies).toEqual([{ name: 'good-strategy', options: { level: 3 } }]);
    expect(infos).toEqual([{ plugin: 'good', module: './good.mjs' }]);
  });

  it('passes empty options when none are configured, and awaits async register', async () => {
    const { h, drivers } = host();
    await loadPlugins([{ module: join(base, 'async-good.mjs') }], h, '/somewhere/else');
    expect(drivers).toEqual([{ name: 'late-driver' }]);
  });

  it('loads a package directory through its package.json main', async () => {
    const { h, drivers } = host();
    const loaded = await loadPlugins([{ module: './pkg' }], h, base);
    expect(loaded[0]!.resolved).toBe(join(base, 'pkg/lib/entry.mjs'));
    expect(drivers).toEqual([{ name: 'pkg-driver' }]);
  });

  it('loads several plugins in order', async () => {
    const { h, strategies, drivers } = host();
    const loaded = await loadPlugins([{ module: './good.mjs' }, { module: './pkg' }], h, base);
    expect(loaded.map((p) => p.name)).toEqual(['good', 'from-package']);
    expect(strategies).toHaveLength(1);
    expect(drivers).toHaveLength(1);
  });

  it.each([
    ['./no-default.mjs', 'does not default-export a vmsnap plugin: it has no default export'],
    [
      './no-register.mjs',
      'does not default-export a vmsnap plugin: the default export has no register() function',
    ],
    ['./no-name.mjs', 'does not default-export a vmsnap plugin: the default export has no name'],
    [
      './a-function.mjs',
      'does not default-export a vmsnap plugin: the default export is a function, not an object',
    ],
  ])('refuses %s with a message naming the module', async (module, problem) => {
    await expect(loadPlugins([{ module }], host().h, base)).rejects.toThrow(
      `Plugin module "${module}" ${problem}`,
    );
  });

  it('wraps a register failure with the plugin and module names', async () => {
    await expect(loadPlugins([{ module: './throws.mjs' }], host().h, base)).rejects.toThrow(
      'Plugin "boom" from "./throws.mjs" failed to register: license key missing',
    );
  });

  it('reports a module that does not load', async () => {
    await expect(loadPlugins([{ module: './syntax-error.mjs' }], host().h, base)).rejects.toThrow(
      /^Cannot load plugin module "\.\/syntax-error\.mjs": /,
    );
  });

  it('reports a missing path and a bare name that is not installed', async () => {
    await expect(loadPlugins([{ module: './nope' }], host().h, base)).rejects.toThrow(
      `Plugin module "./nope" not found at ${join(base, 'nope')}`,
    );
    await expect(loadPlugins([{ module: 'vmsnap-plugin-not-installed' }], host().h, base)).rejects.toThrow(
      /^Cannot load plugin module "vmsnap-plugin-not-installed": /,
    );
  });

  it('refuses a second plugin with the same name', async () => {
    const { h } = host();
    await expect(loadPlugins([{ module: './good.mjs' }, { module: './twin.mjs' }], h, base)).rejects.toThrow(
      'Plugin "good" from "./twin.mjs" is already loaded from "./good.mjs"',
    );
  });

  it.each([
    ['./api-v2.mjs', 'from-the-future', 'was built for plugin API version 2'],
    ['./api-v0.mjs', 'ancient', 'was built for plugin API version 0'],
    ['./api-none.mjs', 'unversioned', 'declares no apiVersion (a plugin API version number)'],
  ])('refuses %s, built for another plugin API version, before it registers', async (module, name, built) => {
    const { h, strategies, drivers } = host();
    const global = globalThis as { registeredBadApi?: boolean };
    delete global.registeredBadApi;
    await expect(loadPlugins([{ module }], h, base)).rejects.toThrow(
      `Plugin "${name}" from "${module}" ${built}, but this vmsnap provides plugin API version ${PLUGIN_API_VERSION}; ` +
        `install a release of the plugin built for version ${PLUGIN_API_VERSION}`,
    );
    expect(global.registeredBadApi).toBeUndefined();
    expect([...strategies, ...drivers]).toEqual([]);
  });

  it('loads a plugin declaring the current version, the one the contract exports', async () => {
    expect(PLUGIN_API_VERSION).toBe(1);
    const { h } = host();
    await expect(loadPlugins([{ module: './twin.mjs' }], h, base)).resolves.toHaveLength(1);
  });

  it('validates a bare module by its default export too', async () => {
    await expect(loadPlugins([{ module: 'node:path' }], host().h, base)).rejects.toThrow(
      'Plugin module "node:path" does not default-export a vmsnap plugin: the default export has no name',
    );
  });
});

describe('resolvePluginModule', () => {
  it('leaves bare names to Node and defaults a package main to index.js', async () => {
    expect(await resolvePluginModule('vmsnap-netapp', base)).toBe('vmsnap-netapp');
    expect(await resolvePluginModule('./pkg-no-main', base)).toBe(join(base, 'pkg-no-main/index.js'));
  });

  it('refuses a directory without package.json', async () => {
    await expect(resolvePluginModule('./bare-dir', base)).rejects.toThrow(
      `Plugin module "./bare-dir" is a directory without package.json (${join(base, 'bare-dir')})`,
    );
  });
});
