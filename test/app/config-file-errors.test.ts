/**
 * What config.json accepts and how it says what is wrong: broken JSON names the file and where the
 * parser stopped; a plugin may be a plain string (a module without options), as docs/plugins.md says.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configPath, loadConfig } from '../../src/app/app-config.ts';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A private data dir whose config.json holds `text`. */
function dataDirWith(text: string): { dir: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'vmsnap-config-errors-'));
  roots.push(root);
  const dir = join(root, 'data');
  mkdirSync(dir, { mode: 0o700 });
  const file = configPath(dir);
  writeFileSync(file, text, { mode: 0o600 });
  return { dir, file };
}

describe('config.json', () => {
  it('broken JSON is reported with the file, the line and the column', () => {
    // A trailing comma on line 3: the parser stops at the `}` after it (column 22).
    const { dir, file } = dataDirWith('{\n  "plugins": [\n    { "module": "x", }\n  ]\n}\n');
    expect(() => loadConfig(dir)).toThrow(`invalid JSON in ${file} (line 3, column 22): `);
  });

  it('a plugin given as a plain string is a module without options; objects still work', () => {
    const { dir } = dataDirWith(
      JSON.stringify({ plugins: ['vmsnap-my-array', { module: './x', options: { a: 1 } }] }),
    );
    expect(loadConfig(dir).plugins).toEqual([
      { module: 'vmsnap-my-array' },
      { module: './x', options: { a: 1 } },
    ]);
  });

  it('an empty string or a number is still refused, naming the file', () => {
    for (const bad of ['', 7]) {
      const { dir, file } = dataDirWith(JSON.stringify({ plugins: [bad] }));
      expect(() => loadConfig(dir)).toThrow(`invalid ${file}: `);
    }
  });
});
