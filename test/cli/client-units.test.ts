/**
 * The CLI's building blocks in-process (no subprocess start-up): the API client against a real
 * server, credential resolution and the config file, the snapshot tree, and the progress line.
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { ApiClient, ApiError, type JobProgress, type Payload } from '../../src/cli/client/api-client.ts';
import { parseParams } from '../../src/cli/client/commands/api-command.ts';
import {
  DEFAULT_ENDPOINT,
  loadConfig,
  normalizeEndpoint,
  resolveCredentials,
  saveConfig,
  setProfile,
  useProfile,
} from '../../src/cli/client/profiles.ts';
import { ProgressLine } from '../../src/cli/client/progress-line.ts';
import { resolveVm } from '../../src/cli/client/resolve-vm.ts';
import { snapshotTrees, treeLabel, treeRows } from '../../src/cli/client/snapshot-tree.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

describe('ApiClient against a real server', () => {
  let t: TestApp;
  let server: FastifyInstance;
  let endpoint: string;
  let admin: ApiClient;
  let demo: ApiClient;
  beforeAll(async () => {
    t = await openTestApp();
    server = await buildServer(t.app);
    endpoint = `${await server.listen({ port: 0, host: '127.0.0.1' })}/client/api`;
    admin = new ApiClient({ profile: 'test', endpoint, ...t.seeded.admin });
    demo = new ApiClient({ profile: 'test', endpoint, ...t.seeded.demo });
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('returns the payload inside the envelope, and the whole body from raw()', async () => {
    const payload = await demo.call('listVirtualMachines');
    expect(payload['count']).toBeGreaterThanOrEqual(4);
    const body = await demo.raw('listZones');
    expect(Object.keys(body)).toEqual(['listzonesresponse']);
  });

  it('turns a CloudStack error body into ApiError "Error <code>: <text>"', async () => {
    const err = await demo.call('startVirtualMachine', { id: 'not-a-uuid' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const apiErr = err as ApiError;
    expect(apiErr.errorCode).toBe(431);
    expect(apiErr.csErrorCode).toBe(9999);
    expect(apiErr.message).toMatch(/^Error 431: Unable to execute API command startvirtualmachine/);
  });

  it('a wrong secret is a 401 with a hint about the credentials', async () => {
    const bad = new ApiClient({ profile: 'x', endpoint, apiKey: t.seeded.demo.apiKey, secretKey: 'nope' });
    await expect(bad.call('listZones')).rejects.toThrow(
      /^Error 401: unable to verify user credentials and\/or request signature\n\(the server refused the request: check the API key/,
    );
  });

  it('a non-CloudStack answer is reported without echoing the signed URL', async () => {
    const wrong = new ApiClient({
      profile: 'x',
      endpoint: endpoint.replace('/client/api', '/nope'),
      ...t.seeded.demo,
    });
    const err = (await wrong.call('listZones').catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/unexpected answer from .*\/nope: HTTP 404/);
    expect(err.message).not.toContain(t.seeded.demo.apiKey);
  });

  it('waitForJob reports the jobprogress of a running job, then returns the finished job', async () => {
    const vm = await t.vm('web-1');
    t.app.simulator.configure({ name: 'CreateVMSnapshotCommand', value: 'wait:800', count: 1 });
    const { jobid } = await demo.call('createVMSnapshot', { virtualmachineid: vm.id });
    const seen: JobProgress[] = [];
    const job = await demo.waitForJob(String(jobid), (p) => seen.push(p), { intervalMs: 50 });
    expect(job.jobstatus).toBe(1);
    expect((job.jobresult?.['vmsnapshot'] as Payload)['state']).toBe('Ready');
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.some((p) => p.progress === 'taking snapshot with the hypervisor strategy')).toBe(true);
    expect(seen.every((p) => p.jobId === jobid)).toBe(true);
    // Elapsed time only grows.
    expect(seen.map((p) => p.elapsedMs)).toEqual([...seen.map((p) => p.elapsedMs)].sort((a, b) => a - b));
  });

  it('listAll follows the pages when the server caps the page size', async () => {
    await t.app.deps.settings.set('default.page.size', '2');
    try {
      const first = await admin.call('listVirtualMachines', { listall: true });
      expect((first['virtualmachine'] as unknown[]).length).toBe(2);
      const all = await admin.listAll('listVirtualMachines', 'virtualmachine', { listall: true });
      expect(all.length).toBe(first['count']);
      expect(new Set(all.map((v) => v['id'])).size).toBe(all.length);
    } finally {
      await t.app.deps.settings.set('default.page.size', '500');
    }
  });

  it('resolveVm finds a VM by name or id and refuses unknown ones', async () => {
    const web = await t.vm('web-1');
    expect((await resolveVm(admin, 'web-1')).id).toBe(web.id);
    expect((await resolveVm(demo, web.id)).name).toBe('web-1');
    await expect(resolveVm(demo, 'nope')).rejects.toThrow('no VM named nope');
    await expect(resolveVm(demo, '00000000-0000-4000-8000-000000000000')).rejects.toThrow('no VM with id');
  });

  it('an unreachable server is "cannot reach <endpoint>: <reason>"', async () => {
    const closed = new ApiClient({
      profile: 'x',
      endpoint: 'http://127.0.0.1:1/client/api',
      ...t.seeded.demo,
    });
    await expect(closed.call('listZones')).rejects.toThrow(
      /^cannot reach http:\/\/127\.0\.0\.1:1\/client\/api: .+/,
    );
  });
});

describe('profiles and credentials', () => {
  const withLab = setProfile({ profiles: {} }, 'lab', {
    endpoint: 'http://lab:8080',
    apiKey: 'k1',
    secretKey: 's1',
  });

  it('the first profile becomes current; set merges fields; use needs a known profile', () => {
    expect(withLab.current).toBe('lab');
    expect(withLab.profiles['lab']?.endpoint).toBe('http://lab:8080/client/api');
    const updated = setProfile(withLab, 'lab', { secretKey: 's2' });
    expect(updated.profiles['lab']).toEqual({
      endpoint: 'http://lab:8080/client/api',
      apiKey: 'k1',
      secretKey: 's2',
    });
    const two = setProfile(updated, 'prod', { apiKey: 'k3', secretKey: 's3' });
    expect(two.current).toBe('lab');
    expect(useProfile(two, 'prod').current).toBe('prod');
    expect(() => useProfile(two, 'nope')).toThrow(/no profile named nope \(known: lab, prod\)/);
  });

  it('env overrides the profile field by field; the endpoint has a default', () => {
    const creds = resolveCredentials(withLab, undefined, { VMSNAP_SECRET_KEY: 'env-secret' });
    expect(creds).toEqual({
      profile: 'lab',
      endpoint: 'http://lab:8080/client/api',
      apiKey: 'k1',
      secretKey: 'env-secret',
    });
    const envOnly = resolveCredentials({ profiles: {} }, undefined, {
      VMSNAP_API_KEY: 'a',
      VMSNAP_SECRET_KEY: 'b',
    });
    expect(envOnly.endpoint).toBe(DEFAULT_ENDPOINT);
    expect(envOnly.profile).toBe('default');
  });

  it('missing credentials and an unknown --profile are readable errors saying how to fix them', () => {
    expect(() => resolveCredentials({ profiles: {} }, undefined, {})).toThrow(
      /no API credentials for profile default[\s\S]*vmsnap profile set default[\s\S]*VMSNAP_API_KEY/,
    );
    expect(() =>
      resolveCredentials(withLab, 'prod', { VMSNAP_API_KEY: 'a', VMSNAP_SECRET_KEY: 'b' }),
    ).toThrow('no profile named prod');
  });

  it('normalizeEndpoint adds /client/api to a bare server URL only', () => {
    expect(normalizeEndpoint('http://h:1')).toBe('http://h:1/client/api');
    expect(normalizeEndpoint('https://cs.example.com/client/api')).toBe('https://cs.example.com/client/api');
    expect(() => normalizeEndpoint('not a url')).toThrow(/invalid endpoint not a url/);
  });

  it('saveConfig writes mode 0600 even over an existing world-readable file; bad JSON is reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-cfg-'));
    try {
      const file = join(dir, 'sub', 'cli.json');
      saveConfig(file, withLab);
      chmodSync(file, 0o644);
      saveConfig(file, withLab);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
      expect(loadConfig(file)).toEqual(withLab);
      writeFileSync(file, '{oops');
      expect(() => loadConfig(file)).toThrow(`cannot read ${file}`);
      writeFileSync(file, '{"profiles": {"a": {"apiKey": 5}}}');
      expect(() => loadConfig(file)).toThrow(`invalid CLI config ${file}`);
      expect(loadConfig(join(dir, 'absent.json'))).toEqual({ profiles: {} });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('api parameters are key=value, values may contain =', () => {
    expect(parseParams(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseParams(['novalue'])).toThrow('parameter novalue is not key=value');
    expect(() => parseParams(['=v'])).toThrow('not key=value');
  });

  it('key@=file takes the trimmed value from the file, so a secret stays off the command line', () => {
    const files: Record<string, string> = { '/etc/token': 's3cret-token\n' };
    const read = (file: string): string => {
      const text = files[file];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${file}'`);
      return text;
    };
    expect(parseParams(['url=http://h:8250', 'password@=/etc/token'], read)).toEqual({
      url: 'http://h:8250',
      password: 's3cret-token',
    });
    expect(() => parseParams(['password@=/nope'], read)).toThrow(
      "cannot read password from /nope: ENOENT: no such file, open '/nope'",
    );
    expect(() => parseParams(['@=/etc/token'], read)).toThrow('not key@=file');
  });
});

describe('snapshot tree', () => {
  const snap = (id: string, created: string, parent?: string, vm = 'vm-a'): Payload => ({
    id,
    displayname: id,
    created,
    virtualmachineid: vm,
    virtualmachinename: vm === 'vm-a' ? 'a' : 'b',
    ...(parent !== undefined ? { parent } : {}),
  });

  it('nests children under parents depth-first, siblings oldest first', () => {
    // Newest first, as listVMSnapshot returns them.
    const list = [
      snap('s4', '2024-01-01T00:00:04+0000', 's1'),
      snap('s3', '2024-01-01T00:00:03+0000', 's2'),
      snap('s2', '2024-01-01T00:00:02+0000', 's1'),
      snap('s1', '2024-01-01T00:00:01+0000'),
    ];
    const rows = treeRows(list);
    expect(rows.map((r) => [r.snapshot['id'], r.depth])).toEqual([
      ['s1', 0],
      ['s2', 1],
      ['s3', 2],
      ['s4', 1],
    ]);
    expect(rows.map(treeLabel)).toEqual(['s1', '└─ s2', '   └─ s3', '└─ s4']);
  });

  it('a snapshot whose parent is not listed is a root; a parent cycle neither hangs nor hides snapshots', () => {
    const orphan = treeRows([
      snap('x', '2024-01-01T00:00:02+0000', 'gone'),
      snap('y', '2024-01-01T00:00:01+0000'),
    ]);
    expect(orphan.map((r) => [r.snapshot['id'], r.depth])).toEqual([
      ['y', 0],
      ['x', 0],
    ]);
    const cycle = treeRows([
      snap('p', '2024-01-01T00:00:01+0000', 'q'),
      snap('q', '2024-01-01T00:00:02+0000', 'p'),
    ]);
    expect(cycle.map((r) => r.snapshot['id']).sort()).toEqual(['p', 'q']);
  });

  it('groups by VM, ordered by VM name', () => {
    const trees = snapshotTrees([
      snap('b1', '2024-01-01T00:00:01+0000', undefined, 'vm-b'),
      snap('a1', '2024-01-01T00:00:01+0000'),
    ]);
    expect(trees.map((t) => [t.vmName, t.rows.length])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });
});

describe('progress line', () => {
  const p = (progress: string | undefined, elapsedMs: number): JobProgress => ({
    jobId: 'j',
    progress,
    elapsedMs,
  });

  it('in a pipe: one line per change of progress, then the outcome', () => {
    const written: string[] = [];
    const line = new ProgressLine('snap', { isTTY: false, write: (s: string) => written.push(s) });
    line.update(p(undefined, 0));
    line.update(p('taking', 200));
    line.update(p('taking', 400));
    line.finish('succeeded', 600);
    expect(written).toEqual(['snap: pending (0.0s)\n', 'snap: taking (0.2s)\n', 'snap: succeeded in 0.6s\n']);
  });

  it('on a terminal: the same line is rewritten on every poll, elapsed time ticking', () => {
    const written: string[] = [];
    const line = new ProgressLine('snap', { isTTY: true, write: (s: string) => written.push(s) });
    line.update(p('taking', 200));
    line.update(p('taking', 400));
    line.finish('failed', 500);
    expect(written).toEqual([
      '\r\x1b[2Ksnap: taking (0.2s)',
      '\r\x1b[2Ksnap: taking (0.4s)',
      '\r\x1b[2Ksnap: failed in 0.5s\n',
    ]);
  });
});
