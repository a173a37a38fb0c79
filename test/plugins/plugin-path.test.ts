/**
 * Issue 9, item 6: a relative plugin path in config.json resolved against the working directory, so
 * whoever could write a file where the server happened to be started (`./evil.mjs`) ran code as the
 * server. Relative paths now resolve against the folder of config.json; bare names stay packages.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configPath, loadConfig } from '../../src/app/app-config.ts';
import { resolvePluginModule } from '../../src/plugins/plugin-loader.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';

const scratch = useScratchDirs('plugin-path');

/** A plugin file that registers nothing; `marker`, if given, is written when the module is imported. */
function pluginSource(name: string, marker?: string): string {
  const effect =
    marker === undefined
      ? ''
      : `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n`;
  return `${effect}export default { name: ${JSON.stringify(name)}, apiVersion: 1, register() {} };\n`;
}

describe('relative plugin paths', () => {
  it('vmsnap serve loads ./plugin.mjs from the config folder, never the one in its working directory', async () => {
    const root = scratch.dir();
    const dataDir = join(root, 'data');
    const cwd = join(root, 'cwd');
    const marker = join(root, 'evil-ran');
    mkdirSync(dataDir, { mode: 0o700 });
    mkdirSync(cwd);
    writeFileSync(join(dataDir, 'plugin.mjs'), pluginSource('legit'));
    writeFileSync(join(cwd, 'plugin.mjs'), pluginSource('evil', marker));
    writeFileSync(configPath(dataDir), JSON.stringify({ plugins: [{ module: './plugin.mjs' }] }));

    const out = await scratch.serve(dataDir, { cwd }).ready();

    expect(out).toMatch(/plugins:\s+legit\n/);
    expect(existsSync(marker)).toBe(false);
  });

  it("the config's base directory is its own folder, wherever the process runs", () => {
    const dataDir = scratch.dir();
    expect(process.cwd()).not.toBe(dataDir);
    expect(loadConfig(dataDir).pluginBaseDir).toBe(dataDir);
  });

  it('./ and ../ paths resolve against the base directory; bare names stay package names', async () => {
    const base = join(scratch.dir(), 'conf');
    mkdirSync(join(base, 'pkg'), { recursive: true });
    writeFileSync(join(base, 'plugin.mjs'), pluginSource('p'));
    writeFileSync(join(base, '..', 'up.mjs'), pluginSource('u'));
    expect(await resolvePluginModule('./plugin.mjs', base)).toBe(join(base, 'plugin.mjs'));
    expect(await resolvePluginModule('../up.mjs', base)).toBe(join(base, '..', 'up.mjs'));
    // A folder of that name next to the config does not turn a package name into a path.
    expect(await resolvePluginModule('pkg', base)).toBe('pkg');
    expect(await resolvePluginModule('@acme/vmsnap-array', base)).toBe('@acme/vmsnap-array');
  });

  it('URL specifiers, which would bypass the base directory and the file checks, are refused', async () => {
    const base = scratch.dir();
    for (const module of ['file:///tmp/evil.mjs', 'data:text/javascript,export default 1'])
      await expect(resolvePluginModule(module, base)).rejects.toThrow(
        `Plugin module "${module}" must be a path or a package name, not a URL`,
      );
  });
});
