/**
 * Issue 11's crash tests, on a real Ceph: a management server (a child process) is SIGKILLed in the
 * middle of a disk-only snapshot of a two-disk VM on a Ceph pool (real QEMU on RBD, the host agent
 * over HTTP), then the App is reopened on the same data dir and recovers the job:
 *  - killed after `rbd group snap create` but before the snapshot was Ready: it comes back Ready,
 *    its records naming the group snapshot the dead server cut (the driver's findVmSnapshot);
 *  - killed before the group snapshot: it comes back Error, and Ceph holds no group snapshot for it.
 * The kill point is deterministic: the child wraps the driver's group take and says where it holds
 * (test/qemu-rbd/rbd-crash-server.ts).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { buildServer } from '../../src/api/server.ts';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import { groupNameOf, snapNameOf } from '../../src/core/rbd-snapshot-ref.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { itemsOf } from '../helpers/api-server.ts';
import { startCeph, type TestCeph } from '../helpers/ceph.ts';
import { killHard, spawnTs, type TsChild } from '../helpers/child-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { openTestApp, quietLog } from '../helpers/test-app.ts';
import { scratchDir } from '../qemu/helpers.ts';
import type { CrashPoint } from './rbd-crash-server.ts';
import { describeCeph } from './rbd-fixture.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const RUNNER = path.join(REPO, 'test/qemu-rbd/rbd-crash-server.ts');
const TOKEN = 'rbd-crash-agent-token-0123456789';

describeCeph('a management server killed mid-snapshot on a Ceph pool (real QEMU, real Ceph)', () => {
  let ceph: TestCeph;
  let scratch: { dir: string; cleanup: () => void };
  let host: RunningAgentServer;
  let appDir = '';
  let vmId = '';
  /** The snapshot taken normally before the crashes: the group exists and holds it. */
  let firstId = '';
  const children: TsChild[] = [];

  beforeAll(async () => {
    ceph = startCeph('rbd-crash');
    scratch = scratchDir('rbd-crash');
    appDir = path.join(scratch.dir, 'server');
    host = await startAgentServer({
      port: 0,
      token: TOKEN,
      stateDir: path.join(scratch.dir, 'agent', 'state'),
      poolDir: path.join(scratch.dir, 'agent', 'pool'),
      accel: 'tcg',
    });
    // Set up through the API, as an operator would, then hand the data dir to the child servers.
    const t = await openTestApp({ dir: appDir });
    const server: FastifyInstance = await buildServer(t.app);
    try {
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      const admin = new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey);
      const job = async (command: string, params: Record<string, string | number | boolean>) => {
        const submitted = await admin.payload(command, params);
        const done = await admin.waitForJob(String(submitted['jobid']), 240_000);
        if (done['jobstatus'] !== 1) throw new Error(`${command}: ${JSON.stringify(done['jobresult'])}`);
        return done['jobresult'] as Record<string, unknown>;
      };
      const zoneId = String(itemsOf(await admin.payload('listZones'), 'zone')[0]?.['id']);
      await admin.payload('addHost', {
        zoneid: zoneId,
        hypervisor: 'KVM',
        url: host.url,
        username: 'root',
        password: TOKEN,
      });
      const pool = await admin.payload('createStoragePool', {
        zoneid: zoneId,
        name: 'ceph-crash',
        url: ceph.url(),
        provider: 'ceph-rbd',
      });
      const deployed = await job('deployVirtualMachine', {
        zoneid: zoneId,
        name: 'rbdcrash',
        memory: 64,
        disksizes: '8,8',
        storageid: String((pool['storagepool'] as Record<string, unknown>)['id']),
        hypervisor: 'KVM',
      });
      vmId = String((deployed['virtualmachine'] as Record<string, unknown>)['id']);
      const first = await job('createVMSnapshot', {
        virtualmachineid: vmId,
        name: 'first',
        quiescevm: false,
      });
      firstId = String((first['vmsnapshot'] as Record<string, unknown>)['id']);
    } finally {
      await server.close();
      await t.close();
    }
  }, 240_000);

  afterAll(async () => {
    for (const child of children) if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
    await host?.agent.stopAll();
    await host?.close();
    ceph?.down();
    scratch?.cleanup();
  });

  /** The group snapshots Ceph holds for the VM: name -> state. */
  async function groupSnaps(): Promise<Record<string, string>> {
    const out = await ceph.rbd([
      'group',
      'snap',
      'ls',
      '--format',
      'json',
      `${ceph.pool}/${groupNameOf(vmId)}`,
    ]);
    const listed = JSON.parse(out) as { snapshot: string; state: string }[];
    return Object.fromEntries(listed.map((g) => [g.snapshot, g.state]));
  }

  /** The snapshot's state in the running child's database (a second connection; WAL allows it). */
  function snapshotState(snapshotId: string): string | undefined {
    const db = new Database(path.join(appDir, 'vmsnap.db'), { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 2000');
      const row = db.prepare('SELECT state FROM vm_snapshots WHERE id = ?').get(snapshotId) as
        { state: string } | undefined;
      return row?.state;
    } finally {
      db.close();
    }
  }

  /** A child server that takes snapshot `name` and holds at `point`; returns it and its line there. */
  async function crashAt(point: CrashPoint, name: string) {
    const child = spawnTs(RUNNER, [appDir, vmId, name, point], { cwd: REPO });
    children.push(child);
    const held = await eventually(
      () => {
        if (child.proc.exitCode !== null) throw new Error(`server exited: ${child.stderr.join('')}`);
        return child.lines.find((l) => l.startsWith(`HELD ${point}`));
      },
      `the child server to hold ${point} the group snapshot`,
      120_000,
    );
    const submitted = /^SUBMITTED (\S+) (\S+)$/.exec(
      child.lines.find((l) => l.startsWith('SUBMITTED')) ?? '',
    );
    if (submitted === null) throw new Error(`no SUBMITTED line: ${child.lines.join('\n')}`);
    return { child, held, snapshotId: submitted[1]!, jobId: submitted[2]! };
  }

  /**
   * Reopens the App on the data dir (the restart) and waits for the interrupted job to finish. The
   * App is stopped after the test, so the next child can open the data dir.
   */
  async function restartAndRecover(jobId: string) {
    const app = await App.open({ config: loadConfig(appDir, { plugins: [] }), log: quietLog });
    onTestFinished(async () => {
      await app.stop();
    });
    await app.start();
    const row = await app.deps.jobs.waitFor(jobId, 120_000);
    return { app, row };
  }

  it('killed after the group snapshot, before Ready: comes back Ready with the references of that group snapshot', async () => {
    const { child, held, snapshotId, jobId } = await crashAt('after', 'cut-then-killed');
    // The cut is on Ceph, the database does not know it yet.
    expect(await groupSnaps()).toEqual({ [snapNameOf(firstId)]: 'ok', [snapNameOf(snapshotId)]: 'ok' });
    const refs = Object.fromEntries(
      held
        .split(' ')
        .slice(2)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    expect(Object.keys(refs)).toHaveLength(2);
    expect(snapshotState(snapshotId)).toBe('Creating');
    await killHard(child);
    expect(child.lines.some((l) => l.startsWith('DONE'))).toBe(false);

    const { app, row } = await restartAndRecover(jobId);
    expect(row.status, String(row.result)).toBe('succeeded');
    const recovered = await app.deps.snapshots.get(snapshotId);
    expect(recovered).toMatchObject({ state: 'Ready', displayName: 'cut-then-killed' });
    expect(recovered?.details).toMatchObject({ recovered: true, consistency: 'crash-consistent' });
    // The records name the pieces of the group snapshot the dead server cut, one per volume.
    const records = Object.fromEntries((recovered?.volumes ?? []).map((r) => [r.volumeId, r.ref]));
    expect(records).toEqual(refs);
    for (const ref of Object.values(refs))
      expect(ref).toContain(`${groupNameOf(vmId)}@${snapNameOf(snapshotId)}`);
    expect(await groupSnaps()).toEqual({ [snapNameOf(firstId)]: 'ok', [snapNameOf(snapshotId)]: 'ok' });
  }, 300_000);

  it('killed before the group snapshot: comes back Error, with no group snapshot left on Ceph', async () => {
    const before = await groupSnaps();
    const { child, snapshotId, jobId } = await crashAt('before', 'killed-before-cut');
    expect(snapshotState(snapshotId)).toBe('Creating');
    await killHard(child);

    const { app, row } = await restartAndRecover(jobId);
    expect(row.status).toBe('failed');
    expect(String(row.result)).toMatch(/management server restarted while the snapshot was being taken/);
    const recovered = await app.deps.snapshots.get(snapshotId);
    expect(recovered?.state).toBe('Error');
    expect(recovered?.volumes.every((r) => r.ref === null) ?? true).toBe(true);
    const after = await groupSnaps();
    expect(after).toEqual(before);
    expect(Object.keys(after)).not.toContain(snapNameOf(snapshotId));
  }, 300_000);
});
