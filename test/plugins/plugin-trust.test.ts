/**
 * Issue 9, item 6: a plugin runs as the server. A plugin file, package folder, package.json or entry
 * file that another local user can write (or replace in its folder), or that such a user owns, is
 * refused before it is imported, naming the file: the module's code never runs.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { configPath, loadConfig } from '../../src/app/app-config.ts';
import type { Logger, PluginHost } from '../../src/core/plugin-api.ts';
import { loadPlugins } from '../../src/plugins/plugin-loader.ts';
import { quietLog } from '../helpers/test-app.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Planted {
  readonly base: string;
  /** Written by the plugin's code when it is imported. */
  readonly marker: string;
}

/** A private base folder with `plugin.mjs` and a package `pkg/` (entry `lib/main.mjs`), both marking. */
function plant(): Planted {
  const base = mkdtempSync(join(tmpdir(), 'vmsnap-plugin-trust-'));
  dirs.push(base);
  const marker = join(base, 'ran');
  const source = `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(marker)}, 'ran');
export default { name: 'planted', apiVersion: 1, register() {} };
`;
  writeFileSync(join(base, 'plugin.mjs'), source);
  mkdirSync(join(base, 'pkg', 'lib'), { recursive: true });
  writeFileSync(join(base, 'pkg', 'package.json'), JSON.stringify({ type: 'module', main: 'lib/main.mjs' }));
  writeFileSync(join(base, 'pkg', 'lib', 'main.mjs'), source.replace("'planted'", "'planted-pkg'"));
  return { base, marker };
}

function host(dataDir: string): PluginHost {
  const quiet = (): void => undefined;
  const log: Logger = { info: quiet, warn: quiet, error: quiet, debug: quiet };
  return { dataDir, log, registerStrategy: quiet, registerStorageDriver: quiet };
}

const isRoot = process.getuid?.() === 0;

describe('plugin files another local user could change are refused, and never run', () => {
  it('private files load (the control case)', async () => {
    const { base, marker } = plant();
    const loaded = await loadPlugins([{ module: './plugin.mjs' }, { module: './pkg' }], host(base), base);
    expect(loaded.map((p) => p.name)).toEqual(['planted', 'planted-pkg']);
    expect(existsSync(marker)).toBe(true);
  });

  it.each([
    ['a world-writable plugin file', 'plugin.mjs', './plugin.mjs', 0o666, 'plugin module "./plugin.mjs"'],
    ['a group-writable plugin file', 'plugin.mjs', './plugin.mjs', 0o664, 'plugin module "./plugin.mjs"'],
    ['a world-writable package folder', 'pkg', './pkg', 0o777, 'plugin module "./pkg"'],
    [
      'a writable package.json',
      'pkg/package.json',
      './pkg',
      0o646,
      'the package.json of plugin module "./pkg"',
    ],
    ['a writable entry file', 'pkg/lib/main.mjs', './pkg', 0o666, 'the entry file of plugin module "./pkg"'],
    [
      "a writable entry file's folder",
      'pkg/lib',
      './pkg',
      0o777,
      'the folder of the entry file of plugin module "./pkg"',
    ],
  ])('%s', async (_what, path, module, mode, named) => {
    const { base, marker } = plant();
    chmodSync(join(base, path), mode);
    await expect(loadPlugins([{ module }], host(base), base)).rejects.toThrow(
      `refusing to use ${named} ${join(base, path)}: group or others can write it (mode 0${mode.toString(8)})`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('a plugin file in a folder others can write (they could swap it): refused, naming the folder', async () => {
    const { base, marker } = plant();
    chmodSync(base, 0o777);
    await expect(loadPlugins([{ module: './plugin.mjs' }], host(base), base)).rejects.toThrow(
      `refusing to use the folder of plugin module "./plugin.mjs" ${base}: group or others can write it`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!isRoot)('a plugin file owned by another user: refused', async () => {
    const { base, marker } = plant();
    chownSync(join(base, 'plugin.mjs'), 65534, 65534);
    await expect(loadPlugins([{ module: './plugin.mjs' }], host(base), base)).rejects.toThrow(
      `it is owned by uid 65534, not by root or the server's user`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('named in config.json, a world-writable plugin file stops App.open before the plugin runs', async () => {
    const { base, marker } = plant();
    const dataDir = join(base, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(
      join(dataDir, 'evil.mjs'),
      `export { default } from ${JSON.stringify(join(base, 'plugin.mjs'))};\n`,
    );
    chmodSync(join(dataDir, 'evil.mjs'), 0o666);
    writeFileSync(configPath(dataDir), JSON.stringify({ plugins: [{ module: './evil.mjs' }] }));
    await expect(App.open({ config: loadConfig(dataDir), log: quietLog })).rejects.toThrow(
      `refusing to use plugin module "./evil.mjs" ${join(dataDir, 'evil.mjs')}`,
    );
    expect(existsSync(marker)).toBe(false);
  });
});
