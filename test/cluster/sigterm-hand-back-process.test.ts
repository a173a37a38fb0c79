/**
 * Issue 12, item 4 (SIGTERM, real process): `vmsnap serve` told to stop while a job hangs on its host
 * waits `job.shutdown.wait` for it, then hands it back, says so in its log, and exits with 0. Before,
 * it waited for the job for ever. The next start on the data dir recovers the handed-back job.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { eventually } from '../helpers/eventually.ts';
import { startServe, type ServeRun } from '../helpers/serve-process.ts';
import { quietLog } from '../helpers/test-app.ts';

const API_KEY = `sigterm-${randomBytes(6).toString('hex')}`;
const SECRET_KEY = randomBytes(24).toString('base64url');

const dirs: string[] = [];
const runs: ServeRun[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The job's status, read from the server's SQLite file (read-only, beside the running server). */
function jobStatus(dataDir: string, id: string): string | undefined {
  const db = new Database(join(dataDir, 'vmsnap.db'), { readonly: true });
  try {
    const row = db.prepare('SELECT status FROM async_jobs WHERE id = ?').get(id) as
      { status: string } | undefined;
    return row?.status;
  } finally {
    db.close();
  }
}

function logMessages(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
}

describe('vmsnap serve on SIGTERM with a job that does not finish', () => {
  it('hands the job back after job.shutdown.wait, logs it, exits 0; the next start recovers it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vmsnap-handback-'));
    dirs.push(root);
    const dataDir = join(root, 'data');
    const run = startServe(dataDir, {
      env: { VMSNAP_LOG_LEVEL: 'info', VMSNAP_ADMIN_API_KEY: API_KEY, VMSNAP_ADMIN_SECRET_KEY: SECRET_KEY },
    });
    runs.push(run);
    const banner = await run.ready();
    const endpoint = /vmsnap is running: (http:\/\/[^\s]+)\/client\/api/.exec(banner)?.[1];
    if (endpoint === undefined) throw new Error(`no endpoint in ${banner}`);
    const admin = new TestApiClient(endpoint, API_KEY, SECRET_KEY);
    await admin.payload('updateConfiguration', { name: 'job.shutdown.wait', value: 1 });
    await admin.payload('configureSimulator', { name: 'CreateVMSnapshotCommand', value: 'hang' });
    const vms = (await admin.payload('listVirtualMachines', { listall: true }))['virtualmachine'] as {
      id: string;
    }[];
    const { jobid } = (await admin.payload('createVMSnapshot', { virtualmachineid: vms[0]!.id })) as {
      jobid: string;
    };
    // Running (claimed, its host hanging), as the server's own database says.
    await eventually(() => (jobStatus(dataDir, jobid) === 'running' ? true : undefined), 'the job to run');

    run.proc.kill('SIGTERM');
    const code = await run.exited;
    const msgs = logMessages(run.stdout());
    expect(code, run.stderr()).toBe(0);
    expect(msgs).toContain(
      'job queue stopping: 1 job(s) still running after 1000 ms handed back for another server to recover',
    );
    expect(
      msgs.some((m) => m.startsWith('job queue stopped: 0 running job(s) finished, 1 handed back')),
    ).toBe(true);

    // The next start on the data dir takes the handed-back job and brings it to a final state.
    const app = await App.open({ config: loadConfig(dataDir), log: quietLog });
    try {
      await app.start();
      const row = await app.deps.jobs.waitFor(jobid, 60_000);
      expect(['succeeded', 'failed']).toContain(row.status);
    } finally {
      await app.stop();
    }
  }, 180_000);
});
