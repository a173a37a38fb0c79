/**
 * Issue 9, item 6: config.json decides which code the server runs, so a config.json that another local
 * user can write (itself, or by replacing it in its folder) is refused before it is read, naming the
 * file. So is one owned by a user other than root and the server's own.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configPath, loadConfig } from '../../src/app/app-config.ts';
import { serveUntilExit } from '../helpers/serve-process.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A private data dir with a config.json of the given mode that sets a recognisable option. */
function dataDirWithConfig(mode: number): { dir: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'vmsnap-config-trust-'));
  dirs.push(root);
  const dir = join(root, 'data');
  mkdirSync(dir, { mode: 0o700 });
  const file = configPath(dir);
  writeFileSync(file, JSON.stringify({ jobConcurrency: 3 }));
  chmodSync(file, mode);
  return { dir, file };
}

const isRoot = process.getuid?.() === 0;

describe('config.json is refused when another local user could change it', () => {
  it('a private config.json is read', () => {
    const { dir } = dataDirWithConfig(0o600);
    expect(loadConfig(dir).jobConcurrency).toBe(3);
  });

  it.each([
    ['world-writable', 0o666],
    ['group-writable', 0o620],
  ])('%s: refused, naming the file and its mode', (_what, mode) => {
    const { dir, file } = dataDirWithConfig(mode);
    expect(() => loadConfig(dir)).toThrow(
      `refusing to use the config file ${file}: group or others can write it (mode 0${mode.toString(8)})`,
    );
  });

  it('in a folder others can write (they could replace it): refused, naming the folder', () => {
    const { dir } = dataDirWithConfig(0o600);
    chmodSync(dir, 0o777);
    expect(() => loadConfig(dir)).toThrow(
      `refusing to use the folder of the config file ${dir}: group or others can write it (mode 0777)`,
    );
  });

  it.skipIf(!isRoot)('owned by another user: refused, naming the file and the owner', () => {
    const { dir, file } = dataDirWithConfig(0o600);
    chownSync(file, 65534, 65534);
    expect(() => loadConfig(dir)).toThrow(
      `refusing to use the config file ${file}: it is owned by uid 65534, not by root or the server's user`,
    );
  });

  it('vmsnap serve on a world-writable config.json exits 1 naming the file, and creates no database', async () => {
    const { dir, file } = dataDirWithConfig(0o666);
    const { code, stderr } = await serveUntilExit(dir);
    expect(code).toBe(1);
    expect(stderr).toContain(`refusing to use the config file ${file}`);
    expect(existsSync(join(dir, 'vmsnap.db'))).toBe(false);
  });
});
