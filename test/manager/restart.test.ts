/**
 * Restart: a real management-server child process is SIGKILLed in the middle of creates, reverts,
 * deletes, starts and stops. The App is then reopened on the same data dir (SQLite file and simulator
 * world file persist): nothing may be left transitional, orphaned jobs must be final, queued jobs must
 * still run, and the database must agree with the simulator.
 */
import { killHard, spawnTs, type TsChild } from '../helpers/child-process.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSITIONAL_STATES } from '../../src/core/vm-snapshot-state.ts';
import type { App } from '../../src/app/app.ts';
import type { Workload } from '../helpers/app-process.ts';
import { dbSimulatorProblems, eventually, reopenApp, settleJobs, waitJob } from '../helpers/core-helpers.ts';
import { openTestApp } from '../helpers/test-app.ts';

const REPO = resolve(import.meta.dirname, '../..');
const RUNNER = join(REPO, 'test/helpers/app-process.ts');
const LONG = 'wait:600000';

type Child = TsChild;

function spawnServer(dir: string, workload: Workload): Child {
  return spawnTs(RUNNER, [dir, JSON.stringify(workload)], {
    cwd: REPO,
    env: { ...process.env, VMSNAP_DATA_DIR: dir },
  });
}

const kill = killHard;

/** Reads the child's database while it runs (a second connection; WAL lets it read alongside). */
function peek<T>(dir: string, read: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'vmsnap.db'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return read(db);
  } finally {
    db.close();
  }
}

function snapshotState(dir: string, displayName: string): string | undefined {
  return peek(dir, (db) => {
    const row = db
      .prepare('SELECT state FROM vm_snapshots WHERE display_name = ? AND removed IS NULL')
      .get(displayName) as { state: string } | undefined;
    return row?.state;
  });
}

function vmState(dir: string, displayName: string): string | undefined {
  return peek(dir, (db) => {
    const row = db.prepare('SELECT state FROM vms WHERE display_name = ?').get(displayName) as
      { state: string } | undefined;
    return row?.state;
  });
}

async function waitFor(child: Child, what: string, ok: () => boolean): Promise<void> {
  await eventually(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`server exited: ${child.stderr.join('')}`);
      return ok() ? true : undefined;
    },
    what,
    20_000,
  );
}

/** Asserts the stable end state every restart must reach, for every VM. */
async function expectStable(app: App): Promise<void> {
  const jobs = await app.deps.db.selectFrom('async_jobs').selectAll().execute();
  expect(jobs.filter((j) => j.status === 'running' || j.status === 'queued')).toEqual([]);
  const transitional = await app.deps.snapshots.listInStates([...TRANSITIONAL_STATES, 'Allocated']);
  expect(transitional.map((s) => `${s.displayName}:${s.state}`)).toEqual([]);
  for (const vm of await app.deps.inventory.listVms()) {
    expect(['Running', 'Stopped'], `${vm.displayName} is ${vm.state}`).toContain(vm.state);
    expect(await dbSimulatorProblems(app, vm.id)).toEqual([]);
  }
}

describe('restart after SIGKILL of a real server process', () => {
  let dir: string;
  const names = new Map<string, string>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-restart-'));
    // First life, in-process: seed, and take the snapshots the killed server will revert to and delete.
    const t = await openTestApp({ dir });
    for (const vm of await t.app.deps.inventory.listVms()) names.set(vm.displayName, vm.instanceName);
    const dbBase = await t.app.snapshotManager.create(t.demo, {
      vmId: (await t.vm('db-1')).id,
      name: 'db-base',
      snapshotMemory: true,
    });
    const batchBase = await t.app.snapshotManager.create(t.demo, {
      vmId: (await t.vm('batch-1')).id,
      name: 'batch-base',
    });
    expect((await waitJob(t.app, dbBase.jobId)).status).toBe('succeeded');
    expect((await waitJob(t.app, batchBase.jobId)).status).toBe('succeeded');
    // A newer snapshot on db-1, so a revert to db-base moves `current`.
    const dbSecond = await t.app.snapshotManager.create(t.demo, {
      vmId: (await t.vm('db-1')).id,
      name: 'db-second',
      snapshotMemory: true,
    });
    expect((await waitJob(t.app, dbSecond.jobId)).status).toBe('succeeded');
    await t.close();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const sim = (vm: string): string => names.get(vm) ?? `unknown ${vm}`;

  it('creates, a revert and a delete cut short are reconciled against the simulator', async () => {
    const child = spawnServer(dir, {
      faults: [
        // Delays act before the host does anything: killed during them, the host never saw the command.
        { name: 'CreateVMSnapshot', value: LONG, vmName: sim('web-1') },
        { name: 'RevertToVMSnapshot', value: LONG, vmName: sim('db-1') },
        { name: 'DeleteVMSnapshot', value: LONG, vmName: sim('batch-1') },
      ],
      // The host takes this one, but the server dies before it records the answer.
      holdAfterAgent: [{ kind: 'CreateVMSnapshot', vmName: sim('app-1') }],
      steps: [
        { op: 'create', vm: 'web-1', name: 'web-lost', memory: true },
        { op: 'stop', vm: 'web-1' },
        { op: 'create', vm: 'app-1', name: 'app-kept' },
        { op: 'start', vm: 'app-1' },
        { op: 'revert', vm: 'db-1', name: 'db-base' },
        { op: 'delete', vm: 'batch-1', name: 'batch-base' },
      ],
    });
    await waitFor(
      child,
      'snapshots mid-operation',
      () =>
        child.lines.includes(`HELD CreateVMSnapshot ${sim('app-1')}`) &&
        snapshotState(dir, 'web-lost') === 'Creating' &&
        snapshotState(dir, 'db-base') === 'Reverting' &&
        snapshotState(dir, 'batch-base') === 'Expunging',
    );
    await kill(child);
    expect(child.lines.filter((l) => l.startsWith('SUBMITTED'))).toHaveLength(6);

    const { app } = await reopenApp(dir, { start: false });
    try {
      const byName = async (vm: string, displayName: string) =>
        (await app.deps.snapshots.listByVm((await vmByName(app, vm)).id)).find(
          (s) => s.displayName === displayName,
        );
      // Before recovery the dead server's leftovers are there, as it left them.
      expect((await byName('app-1', 'app-kept'))?.state).toBe('Creating');
      const webLost = await byName('web-1', 'web-lost');
      const appKept = await byName('app-1', 'app-kept');
      const dbBase = await byName('db-1', 'db-base');
      const batchBase = await byName('batch-1', 'batch-base');
      if (!webLost || !appKept || !dbBase || !batchBase) throw new Error('snapshot rows missing');
      expect(app.simulator.inspect(sim('app-1'))?.snapshots.map((s) => s.name)).toEqual([appKept.name]);
      expect(app.simulator.inspect(sim('web-1'))?.snapshots).toEqual([]);
      const orphaned = await app.deps.db
        .selectFrom('async_jobs')
        .selectAll()
        .where('status', '=', 'running')
        .execute();
      expect(orphaned).toHaveLength(4);

      // The delays were durable settings of the simulator: lift them, as an operator would, then start.
      app.simulator.faults.clear();
      await app.start();
      const jobs = await settleJobs(app);
      await expectStable(app);

      // Creating + the host has it -> Ready and current; Creating + the host never saw it -> Error.
      const kept = await app.deps.snapshots.get(appKept.id);
      expect(kept?.state).toBe('Ready');
      expect(kept?.current).toBe(true);
      expect(app.simulator.inspect(sim('app-1'))?.currentSnapshot).toBe(appKept.name);
      expect((await app.deps.snapshots.get(webLost.id))?.state).toBe('Error');
      // Reverting -> Ready again; the VM's power state re-read from its host.
      expect((await app.deps.snapshots.get(dbBase.id))?.state).toBe('Ready');
      expect((await vmByName(app, 'db-1')).state).toBe('Running');
      // Expunging -> the delete finished: row removed, gone from the host.
      expect(await app.deps.snapshots.get(batchBase.id)).toBeUndefined();
      expect((await app.deps.snapshots.get(batchBase.id, true))?.removed).not.toBeNull();
      expect(app.simulator.inspect(sim('batch-1'))?.snapshots).toEqual([]);

      const outcome = (instanceId: string, kind: string): string | undefined =>
        jobs.find((j) => j.instance_id === instanceId && j.kind === kind)?.status;
      expect(outcome(appKept.id, 'vmsnapshot.create')).toBe('succeeded');
      expect(outcome(webLost.id, 'vmsnapshot.create')).toBe('failed');
      expect(outcome(dbBase.id, 'vmsnapshot.revert')).toBe('failed');
      expect(outcome(batchBase.id, 'vmsnapshot.delete')).toBe('succeeded');
      // Jobs queued behind the interrupted ones survived the crash and ran afterwards, in order.
      expect(outcome((await vmByName(app, 'web-1')).id, 'vm.stop')).toBe('succeeded');
      expect(outcome((await vmByName(app, 'app-1')).id, 'vm.start')).toBe('succeeded');
      expect((await vmByName(app, 'web-1')).state).toBe('Stopped');
      expect((await vmByName(app, 'app-1')).state).toBe('Running');
    } finally {
      await app.stop();
    }
  }, 60_000);

  it('a VM left Starting or Stopping is resolved from what its host says', async () => {
    const child = spawnServer(dir, {
      faults: [{ name: 'StartVM', value: LONG, vmName: sim('batch-1') }],
      holdAfterAgent: [{ kind: 'StopVM', vmName: sim('db-1') }],
      steps: [
        { op: 'start', vm: 'batch-1' },
        { op: 'stop', vm: 'db-1' },
      ],
    });
    await waitFor(
      child,
      'VMs mid start/stop',
      () =>
        child.lines.includes(`HELD StopVM ${sim('db-1')}`) &&
        vmState(dir, 'batch-1') === 'Starting' &&
        vmState(dir, 'db-1') === 'Stopping',
    );
    await kill(child);

    const { app } = await reopenApp(dir, { start: false });
    try {
      expect((await vmByName(app, 'batch-1')).state).toBe('Starting');
      expect((await vmByName(app, 'db-1')).state).toBe('Stopping');
      expect(app.simulator.inspect(sim('db-1'))?.powerState).toBe('PowerOff');
      app.simulator.faults.clear();
      await app.start();
      const jobs = await settleJobs(app);
      await expectStable(app);
      // The start never reached the host: the VM is Stopped and the start failed, saying why.
      const batch = await vmByName(app, 'batch-1');
      expect(batch.state).toBe('Stopped');
      const start = jobs.find((j) => j.instance_id === batch.id && j.kind === 'vm.start');
      expect(start?.status).toBe('failed');
      expect(start?.result).toContain('is Stopped after a management server restart');
      // The stop did reach the host: the VM is Stopped and the stop succeeded.
      const db1 = await vmByName(app, 'db-1');
      expect(db1.state).toBe('Stopped');
      expect(jobs.find((j) => j.instance_id === db1.id && j.kind === 'vm.stop')?.status).toBe('succeeded');
      // The recovered server works normally afterwards.
      const s = await app.snapshotManager.create((await app.systemCaller())!, {
        vmId: batch.id,
        name: 'after-restart',
      });
      expect((await waitJob(app, s.jobId)).status).toBe('succeeded');
      await expectStable(app);
    } finally {
      await app.stop();
    }
  }, 60_000);

  it('a revert the host finished before the server died is recorded on restart', async () => {
    // A memory snapshot reverts only on a running VM: make sure db-1 runs (the test above stops it).
    const prep = await reopenApp(dir);
    const db1Before = await vmByName(prep.app, 'db-1');
    if (db1Before.state !== 'Running') {
      const started = await prep.app.vmManager.start(prep.demo, db1Before.id);
      expect((await waitJob(prep.app, started.jobId)).status).toBe('succeeded');
    }
    await prep.app.stop();
    const child = spawnServer(dir, {
      holdAfterAgent: [{ kind: 'RevertToVMSnapshot', vmName: sim('db-1') }],
      steps: [{ op: 'revert', vm: 'db-1', name: 'db-base' }],
    });
    await waitFor(child, 'revert done on the host, not recorded', () =>
      child.lines.includes(`HELD RevertToVMSnapshot ${sim('db-1')}`),
    );
    await kill(child);
    const { app } = await reopenApp(dir, { start: false });
    try {
      const db1 = await vmByName(app, 'db-1');
      const before = await app.deps.snapshots.listByVm(db1.id);
      const base = before.find((s) => s.displayName === 'db-base');
      if (base === undefined) throw new Error('db-base missing');
      expect(base.state).toBe('Reverting');
      expect(before.find((s) => s.current)?.displayName).toBe('db-second');
      expect(app.simulator.inspect(sim('db-1'))?.currentSnapshot).toBe(base.name);
      await app.start();
      const jobs = await settleJobs(app);
      await expectStable(app);
      const after = await app.deps.snapshots.listByVm(db1.id);
      expect(after.filter((s) => s.current).map((s) => s.displayName)).toEqual(['db-base']);
      expect(after.find((s) => s.displayName === 'db-base')?.state).toBe('Ready');
      expect((await vmByName(app, 'db-1')).state).toBe('Running');
      const reverts = jobs.filter((j) => j.instance_id === base.id && j.kind === 'vmsnapshot.revert');
      expect(reverts.at(-1)?.status).toBe('succeeded');
    } finally {
      await app.stop();
    }
  }, 60_000);

  it('a create killed between its snapshot row and its job leaves neither, and the name is free again', async () => {
    const child = spawnServer(dir, {
      holdAfterSnapshotInsert: true,
      steps: [{ op: 'create', vm: 'web-1', name: 'web-half' }],
    });
    await waitFor(child, 'the snapshot row written, its job not', () =>
      child.lines.some((l) => l.startsWith('HELD insert ')),
    );
    const heldId = child.lines.find((l) => l.startsWith('HELD insert '))?.split(' ')[2];
    await kill(child);
    const { app, admin } = await reopenApp(dir, { start: false });
    try {
      // The row and the job were one transaction: the kill took both (once, the row stayed Allocated,
      // listed and counted against vmsnapshot.max, with no job ever to take it).
      const row = await app.deps.db
        .selectFrom('vm_snapshots')
        .select('state')
        .where('id', '=', heldId ?? '')
        .executeTakeFirst();
      expect(row).toBeUndefined();
      const jobs = await app.deps.db
        .selectFrom('async_jobs')
        .select('id')
        .where('instance_id', '=', heldId ?? '')
        .execute();
      expect(jobs).toEqual([]);
      await app.start();
      await expectStable(app);
      const again = await app.snapshotManager.create(admin, {
        vmId: (await vmByName(app, 'web-1')).id,
        name: 'web-half',
      });
      expect((await waitJob(app, again.jobId)).status).toBe('succeeded');
      expect((await app.deps.snapshots.get(again.snapshot.id))?.state).toBe('Ready');
    } finally {
      await app.stop();
    }
  }, 60_000);
});

async function vmByName(app: App, displayName: string) {
  const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === displayName);
  if (vm === undefined) throw new Error(`no VM ${displayName}`);
  return vm;
}
