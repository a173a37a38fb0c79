/**
 * VMSNAP_PLUGINS, as loadConfig reads it (the one parser of it; a copy in the plugin loader that only
 * tests called is gone): comma-separated modules without options, after the ones config.json names.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/app/app-config.ts';

describe('VMSNAP_PLUGINS', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.unstubAllEnvs();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function dataDir(config?: object): string {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-env-plugins-'));
    dirs.push(dir);
    if (config !== undefined)
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
    return dir;
  }

  it('splits on commas, trims, skips empty entries, and comes after config.json', () => {
    vi.stubEnv('VMSNAP_PLUGINS', ' ./a , b,,');
    const dir = dataDir({ plugins: [{ module: './from-file', options: { x: 1 } }] });
    expect(loadConfig(dir).plugins).toEqual([
      { module: './from-file', options: { x: 1 } },
      { module: './a' },
      { module: 'b' },
    ]);
  });

  it('unset or empty: only what config.json names', () => {
    vi.stubEnv('VMSNAP_PLUGINS', '');
    expect(loadConfig(dataDir()).plugins).toEqual([]);
  });
});
