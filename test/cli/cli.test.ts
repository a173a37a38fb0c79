/**
 * The CLI driven as a subprocess (`bin/vmsnap.js`) against a real server in this process: what an
 * operator sees, exit codes included. Each spawn costs about a second of tsx start-up, so every
 * test makes its few spawns count.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { cleanEnv, runCli, runCliReaderGone, type CliResult } from './cli-process.ts';

let t: TestApp;
let server: FastifyInstance;
let endpoint: string;
let home: string;

beforeAll(async () => {
  t = await openTestApp();
  server = await buildServer(t.app);
  endpoint = `${await server.listen({ port: 0, host: '127.0.0.1' })}/client/api`;
  home = mkdtempSync(join(tmpdir(), 'vmsnap-cli-'));
});

afterAll(async () => {
  await server.close();
  await t.close();
  rmSync(home, { recursive: true, force: true });
});

/** The CLI with credentials in env (demo user unless said otherwise) and a private config file. */
function cli(args: string[], who: 'demo' | 'admin' = 'demo'): Promise<CliResult> {
  const keys = t.seeded[who];
  return runCli(
    args,
    cleanEnv({
      HOME: home,
      VMSNAP_CLI_CONFIG: join(home, 'cli.json'),
      VMSNAP_ENDPOINT: endpoint,
      VMSNAP_API_KEY: keys.apiKey,
      VMSNAP_SECRET_KEY: keys.secretKey,
    }),
  );
}

/** The CLI with no credentials in env: only the config file (profiles) counts. */
function cliWithProfiles(args: string[]): Promise<CliResult> {
  return runCli(args, cleanEnv({ HOME: home, VMSNAP_CLI_CONFIG: join(home, 'profiles.json') }));
}

/** The table row (a line of stdout) that mentions `text` (or matches it). */
function rowOf(out: string, text: string | RegExp): string {
  const line = out.split('\n').find((l) => (typeof text === 'string' ? l.includes(text) : text.test(l)));
  if (line === undefined) throw new Error(`no row with ${String(text)} in:\n${out}`);
  return line;
}

/** A port nothing listens on: bound once by the OS, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function snapshotIdByName(name: string): Promise<string> {
  const vm = await t.vm('web-1');
  const snap = (await t.app.deps.snapshots.listByVm(vm.id)).find((s) => s.displayName === name);
  if (snap === undefined) throw new Error(`no snapshot ${name}`);
  return snap.id;
}

// Several spawns per test: allow for a loaded CI machine, where tsx start-up alone can take seconds.
describe('vmsnap CLI as a subprocess', { timeout: 90_000 }, () => {
  it('vm list shows the seeded VMs with their host (admin)', async () => {
    const r = await cli(['vm', 'list'], 'admin');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const name of ['web-1', 'db-1', 'app-1', 'batch-1']) expect(r.stdout).toContain(name);
    expect(rowOf(r.stdout, 'web-1')).toMatch(/Running.*sim-host-\d.*2048/);
    expect(rowOf(r.stdout, 'app-1')).toContain('Stopped');
  });

  it('vm start by name waits for the job; vm stop --force --no-wait returns the job id', async () => {
    const r = await cli(['vm', 'start', 'app-1']);
    expect(r.code, r.stderr).toBe(0);
    expect(rowOf(r.stdout, 'app-1')).toContain('Running');
    expect(r.stderr).toMatch(/starting app-1 \(job [0-9a-f-]+\): succeeded in/);
    expect((await t.vm('app-1')).state).toBe('Running');

    const stop = await cli(['vm', 'stop', 'app-1', '--force', '--no-wait']);
    expect(stop.code, stop.stderr).toBe(0);
    const jobId = /job id\s+│ ([0-9a-f-]{36})/.exec(stop.stdout)?.[1];
    expect(jobId).toBeDefined();
    const job = await t.app.deps.jobs.waitFor(jobId!);
    expect(job.status).toBe('succeeded');
    expect((await t.vm('app-1')).state).toBe('Stopped');
  });

  it('snapshot create --memory --wait shows progress, then the Ready snapshot with vmsnap extras', async () => {
    // Slow the hypervisor down so the job is seen running and its progress is reported.
    t.app.simulator.configure({ name: 'CreateVMSnapshotCommand', value: 'wait:1500', count: 1 });
    const r = await cli(['snapshot', 'create', 'web-1', '--memory', '--name', 'first', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    // stderr is a pipe: one line per progress change, then the outcome.
    expect(r.stderr).toMatch(
      /snapshot of web-1 \(job [0-9a-f-]+\): taking snapshot with the hypervisor strategy/,
    );
    expect(r.stderr).toMatch(/succeeded in \d+\.\ds/);
    expect(r.stderr).not.toContain('\r');
    const row = rowOf(r.stdout, 'first');
    expect(row).toMatch(/Ready.*DiskAndMemory.*hypervisor.*application-consistent/);
  });

  it('snapshot list --vm shows the second snapshot indented under the first and marked current', async () => {
    const created = await cli(['snapshot', 'create', 'web-1', '--name', 'second', '--wait']);
    expect(created.code, created.stderr).toBe(0);
    const r = await cli(['snapshot', 'list', '--vm', 'web-1']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const first = lines.findIndex((l) => l.includes('first'));
    const second = lines.findIndex((l) => l.includes('second'));
    expect(first).toBeGreaterThan(-1);
    expect(second).toBeGreaterThan(first);
    expect(lines[first]).not.toContain('└─');
    expect(lines[second]).toContain('└─ second');
    expect(lines[second]).toMatch(/^│ \* │/);
    expect(lines[first]).toMatch(/^│ {3}│/);
    expect(lines[second]).toMatch(/Ready.*Disk /);
  });

  it("reverting a running VM to a disk-only snapshot fails with exit 1 and CloudStack's message", async () => {
    const r = await cli(['snapshot', 'revert', await snapshotIdByName('second')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'Error 431: Reverting to the Instance Snapshot is not allowed for running Instances',
    );
  });

  it('revert to the memory snapshot and delete the other one by name, both waiting, exit 0', async () => {
    const reverted = await cli(['snapshot', 'revert', 'first']);
    expect(reverted.code, reverted.stderr).toBe(0);
    expect(reverted.stdout).toContain('reverted web-1 to snapshot first');
    const deleted = await cli(['snapshot', 'delete', 'second', '--vm', 'web-1']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain('deleted snapshot second');
    const left = await t.app.deps.snapshots.listByVm((await t.vm('web-1')).id);
    expect(left.map((s) => s.displayName)).toEqual(['first']);
    expect(left[0]?.current).toBe(true);
  });

  it('a failed job prints its error text and exits 1', async () => {
    t.app.simulator.configure({ name: 'DeleteVMSnapshotCommand', value: 'result:fail', count: 1 });
    const r = await cli(['snapshot', 'delete', await snapshotIdByName('first')]);
    expect(r.code).toBe(1);
    // The host's own failure text stays in the server log; the job names the failure and its id.
    expect(r.stderr).toMatch(/failed: Error 530: .*the host reported an error \(error id /);
  });

  it('--json prints the raw payload; job show reports the job it names', async () => {
    const r = await cli(['--json', 'snapshot', 'create', 'db-1', '--quiesce']);
    expect(r.code, r.stderr).toBe(0);
    const created = JSON.parse(r.stdout) as { id: string; jobid: string };
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    await t.app.deps.jobs.waitFor(created.jobid);
    const shown = await cli(['job', 'show', created.jobid]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(rowOf(shown.stdout, 'status')).toContain('succeeded');
    expect(rowOf(shown.stdout, 'result code')).toContain('0');
    expect(rowOf(shown.stdout, /^│ result\s+│/)).toContain(`snapshot ${created.id}`);
    expect(rowOf(shown.stdout, 'command')).toContain('CreateVMSnapshotCmd');
  });

  it('readable errors with exit 1: an unknown VM name, a server that is down', async () => {
    const down = `http://127.0.0.1:${await closedPort()}/client/api`;
    const [unknown, unreachable] = await Promise.all([
      cli(['vm', 'stop', 'no-such-vm']),
      runCli(
        ['vm', 'list'],
        cleanEnv({
          HOME: home,
          VMSNAP_CLI_CONFIG: join(home, 'none.json'),
          VMSNAP_ENDPOINT: down,
          VMSNAP_API_KEY: 'k',
          VMSNAP_SECRET_KEY: 's',
        }),
      ),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no VM named no-such-vm');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`cannot reach ${down}: connect ECONNREFUSED`);
  });

  it('output piped into a reader that has gone (`vmsnap api … | head`): exit 0, no stack trace', async () => {
    const keys = t.seeded.demo;
    const r = await runCliReaderGone(
      ['api', 'listApis'],
      cleanEnv({
        HOME: home,
        VMSNAP_CLI_CONFIG: join(home, 'cli.json'),
        VMSNAP_ENDPOINT: endpoint,
        VMSNAP_API_KEY: keys.apiKey,
        VMSNAP_SECRET_KEY: keys.secretKey,
      }),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('profiles: set, use, list round trip; bad credentials give a readable 401', async () => {
    const { apiKey, secretKey } = t.seeded.demo;
    const file = join(home, 'profiles.json');
    const setLab = await cliWithProfiles([
      'profile',
      'set',
      'lab',
      '--endpoint',
      endpoint,
      '--api-key',
      apiKey,
      '--secret-key',
      secretKey,
    ]);
    expect(setLab.code, setLab.stderr).toBe(0);
    const setBroken = await cliWithProfiles([
      'profile',
      'set',
      'broken',
      '--endpoint',
      endpoint,
      '--api-key',
      apiKey,
      '--secret-key',
      'wrong',
    ]);
    expect(setBroken.code, setBroken.stderr).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.current).toBe('lab');
    expect(saved.profiles.broken).toEqual({ endpoint, apiKey, secretKey: 'wrong' });

    expect((await cliWithProfiles(['profile', 'use', 'broken'])).code).toBe(0);
    // Read-only from here on, so the three spawns run side by side.
    const [listed, refused, viaLab] = await Promise.all([
      cliWithProfiles(['profile', 'list']),
      cliWithProfiles(['vm', 'list']),
      cliWithProfiles(['--profile', 'lab', 'vm', 'list']),
    ]);
    expect(rowOf(listed.stdout, 'broken')).toMatch(/^│ \* │ broken/);
    expect(rowOf(listed.stdout, 'lab')).toMatch(/^│ {3}│ lab/);
    expect(listed.stdout).not.toContain(secretKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Error 401: unable to verify user credentials and/or request signature');
    expect(viaLab.code, viaLab.stderr).toBe(0);
    expect(viaLab.stdout).toContain('web-1');
  });
});
