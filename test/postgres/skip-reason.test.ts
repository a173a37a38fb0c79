/**
 * `npm test` without PostgreSQL says why the PostgreSQL tests skip (the README promises it): the
 * default reporter shows a skipped suite only as a count, so the reason must be printed. Runs one
 * PostgreSQL test file in a child vitest with VMSNAP_TEST_PG_URL and CI unset.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');

function childVitest(file: string): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'CI' || k === 'VMSNAP_TEST_PG_URL' || k.startsWith('VITEST')) continue;
    env[k] = v;
  }
  const child = spawn(
    process.execPath,
    [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', file, '--reporter=default'],
    { cwd: REPO, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code, output }));
  });
}

it('the reporter output names the reason the PostgreSQL tests skip', { timeout: 120_000 }, async () => {
  const { code, output } = await childVitest('test/postgres/postgres-store.test.ts');
  expect(code, output).toBe(0);
  expect(output).toMatch(/skipped/);
  expect(output).toContain('PostgreSQL tests skipped: set VMSNAP_TEST_PG_URL');
});
