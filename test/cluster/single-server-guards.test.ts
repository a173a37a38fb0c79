/**
 * Issue 12, item 4: one server on SQLite says so. Real `vmsnap serve` child processes:
 *  - a second server on the same data dir is refused at start with a clear message, and the first
 *    one keeps its job (it used to release every lease at start and mark the first one's running
 *    job Error);
 *  - a taken port makes `serve` exit non-zero before it takes any job (it used to start the job
 *    queue first and keep running jobs without an HTTP server).
 * In-process, App.open on a data dir another App holds is refused the same way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { serveUntilExit, startServe, type ServeRun } from '../helpers/serve-process.ts';
import { openTestApp, quietLog } from '../helpers/test-app.ts';

const dirs: string[] = [];
const runs: ServeRun[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.stop();
  for (const b of blockers.splice(0)) await new Promise((r) => b.close(r));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-guard-'));
  dirs.push(dir);
  return join(dir, 'data');
}

describe('one management server per SQLite data dir', () => {
  it('refuses a second `vmsnap serve` on the same data dir and leaves the first one running', async () => {
    const dataDir = scratch();
    const first = startServe(dataDir);
    runs.push(first);
    await first.ready();

    const second = await serveUntilExit(dataDir);
    expect(second.code, second.stderr).not.toBe(0);
    expect(second.stderr).toContain('Another vmsnap management server is already running on the data dir');
    expect(second.stderr).toContain('PostgreSQL');
    expect(second.stdout).not.toContain('vmsnap is running');
    // The first server is untouched: still running, and still the one server of the data dir.
    expect(first.proc.exitCode).toBeNull();
    await first.stop();
    expect(await first.exited).toBe(0);
    const third = startServe(dataDir);
    runs.push(third);
    await third.ready();
  }, 180_000);

  it('refuses a second App on a data dir this process already holds, until the first one stops', async () => {
    const dir = scratch();
    const t = await openTestApp({ dir });
    const reopen = () => App.open({ config: loadConfig(dir, { plugins: [] }), log: quietLog });
    try {
      await expect(reopen()).rejects.toThrow(/Another vmsnap management server is already running/);
      // The refused start did not touch the first server's jobs or its database.
      expect(await t.app.deps.jobs.recoverOrphans()).toBe(0);
    } finally {
      await t.close();
    }
    const next = await reopen();
    await next.stop();
  });
});

describe('vmsnap serve and its port', () => {
  it('exits non-zero, saying why, when its port is taken (it used to run on without an API)', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const run = await serveUntilExit(scratch(), { port });
    expect(run.code, run.stderr).not.toBe(0);
    expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(run.stdout).not.toContain('vmsnap is running');
  }, 180_000);
});
