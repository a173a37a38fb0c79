/**
 * Test harness for policy runs: a seeded App (SQLite file, or PostgreSQL), a second in-process
 * "management server" on its own connection to the same database (its own job queue, worker,
 * managers and scheduler: what another `vmsnap serve` runs), and a driver that ticks schedulers at
 * given (fake) times until the open runs are final. Nothing sleeps: jobs are awaited by id.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from '../../src/app/app.ts';
import { openSecretBox } from '../../src/app/secret-key.ts';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { PolicyScheduler } from '../../src/jobs/policy-scheduler.ts';
import type { ManagerDeps } from '../../src/manager/manager-deps.ts';
import { DEFAULT_RUN_OPTIONS, PolicyRunSteps } from '../../src/manager/policy-run-steps.ts';
import { VmManager } from '../../src/manager/vm-manager.ts';
import { VmSnapshotManager } from '../../src/manager/vm-snapshot-manager.ts';
import { VmSnapshotWorker } from '../../src/manager/vm-snapshot-worker.ts';
import type { CreatePolicyRequest } from '../../src/manager/vm-snapshot-policy-manager.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { EventStore } from '../../src/store/event-store.ts';
import { InventoryStore } from '../../src/store/inventory-store.ts';
import { SettingsStore } from '../../src/store/settings-store.ts';
import { PolicyRunStore, type PolicyRun } from '../../src/store/vm-snapshot-policy-run-store.ts';
import {
  VmSnapshotPolicyStore,
  type StoredVmSnapshotPolicy,
} from '../../src/store/vm-snapshot-policy-store.ts';
import { VmSnapshotStore } from '../../src/store/vm-snapshot-store.ts';
import { createTempDatabase, type TempDatabase } from '../helpers/postgres.ts';
import { openTestApp, quietLog, type TestApp } from '../helpers/test-app.ts';

export type Engine = 'sqlite' | 'postgres';

/** Run timing in tests: a busy VM is retried a minute later, at most 3 attempts; no poll delay. */
export const TEST_RUN_OPTIONS = { retryMs: 60_000, maxAttempts: 3, pollMs: 0 } as const;

export interface SchedulerNode {
  readonly scheduler: PolicyScheduler;
  readonly steps: PolicyRunSteps;
  readonly jobs: JobQueue;
  readonly runs: PolicyRunStore;
}

export interface PolicyWorld {
  readonly t: TestApp;
  readonly app: App;
  /** The App's own scheduler, as a node. */
  readonly a: SchedulerNode;
  /** A second server on its own connection (created by `secondNode`). */
  secondNode(opts?: {
    snapshotManager?: (m: VmSnapshotManager) => VmSnapshotManager;
  }): Promise<SchedulerNode>;
  policy(vmName: string, req: Omit<CreatePolicyRequest, 'vmId'>): Promise<StoredVmSnapshotPolicy>;
  close(): Promise<void>;
}

export async function openPolicyWorld(engine: Engine): Promise<PolicyWorld> {
  let temp: TempDatabase | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-policy-'));
  let url = `sqlite:${join(dir, 'vmsnap.sqlite')}`;
  if (engine === 'postgres') {
    temp = await createTempDatabase();
    url = temp.url;
  }
  const t = await openTestApp({
    dir,
    databaseUrl: url,
    policyRuns: TEST_RUN_OPTIONS,
    // The App's own timer never fires during a test: the tests tick at their fake times.
    policyIntervalMs: 3_600_000,
  });
  const stores: OpenedStore[] = [];
  const queues: JobQueue[] = [];
  const a: SchedulerNode = {
    scheduler: t.app.policyScheduler,
    steps: t.app.policyRunSteps,
    jobs: t.app.deps.jobs,
    runs: t.app.policyRuns,
  };
  return {
    t,
    app: t.app,
    a,
    async secondNode(opts = {}) {
      const store = await openStore({ url, secrets: openSecretBox(dir) });
      stores.push(store);
      const node = await buildNode(t.app, store, engine === 'postgres', opts.snapshotManager);
      queues.push(node.jobs);
      return node;
    },
    async policy(vmName, req) {
      const vm = await t.vm(vmName);
      return t.app.policyManager.create(t.demo, { vmId: vm.id, ...req });
    },
    async close() {
      for (const q of queues) await q.stop({ handBackAfterMs: 0 }).catch(() => undefined);
      for (const s of stores) await s.close().catch(() => undefined);
      await t.close();
      await temp?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A second server on `store`. `runJobs`: its job queue runs jobs too (PostgreSQL). On SQLite it only
 * submits them and the App's queue runs them: two SQLite connections in ONE process cannot have a
 * job's transaction open on one while the other writes (better-sqlite3 waits for the lock
 * synchronously, blocking the event loop that would release it); a real SQLite install is one
 * server per data dir anyway (its lock file).
 */
async function buildNode(
  app: App,
  store: OpenedStore,
  runJobs: boolean,
  wrap?: (m: VmSnapshotManager) => VmSnapshotManager,
): Promise<SchedulerNode> {
  const settings = new SettingsStore(store.db);
  await settings.load();
  const jobs = new JobQueue({ db: store.db, log: quietLog, leaseMs: 20_000 });
  const deps: ManagerDeps = {
    ...app.deps,
    db: store.db,
    inventory: new InventoryStore(store.db),
    snapshots: new VmSnapshotStore(store.db),
    settings,
    events: new EventStore(store.db),
    jobs,
  };
  const worker = new VmSnapshotWorker(deps);
  worker.register();
  new VmManager(deps, worker).register();
  const real = new VmSnapshotManager(deps);
  const manager = wrap === undefined ? real : wrap(real);
  const policies = new VmSnapshotPolicyStore(store.db);
  const runs = new PolicyRunStore(store.db);
  const leaseMs = (): number => 20_000;
  const steps = new PolicyRunSteps(deps, manager, policies, runs, {
    ...DEFAULT_RUN_OPTIONS,
    ...TEST_RUN_OPTIONS,
    ownerId: jobs.ownerId,
    leaseMs,
  });
  const scheduler = new PolicyScheduler({
    policies,
    runs,
    stepper: steps,
    ownerId: jobs.ownerId,
    leaseMs,
    log: quietLog,
  });
  if (runJobs) await jobs.start();
  return { scheduler, steps, jobs, runs };
}

/** Waits for every job a run is waiting on (its create job, its prune jobs). */
export async function settleJobsOf(app: App, runs: readonly PolicyRun[]): Promise<void> {
  for (const r of runs) {
    for (const id of [...r.pruneJobs, ...(r.jobId === null ? [] : [r.jobId])]) {
      if ((await app.deps.jobs.get(id)) !== undefined) await app.deps.jobs.waitFor(id, 30_000);
    }
  }
}

/**
 * Ticks the nodes at `now` and again until no run due by `now` is open. Bounded: a run still open
 * after 50 rounds fails the test. `concurrent`: the ticks run at once (PostgreSQL). On SQLite the
 * nodes tick one after the other, each after the jobs the previous one queued have finished (see
 * buildNode: no job transaction may be open while the other connection writes).
 */
export async function driveAt(
  app: App,
  nodes: readonly SchedulerNode[],
  now: number,
  concurrent = false,
): Promise<void> {
  for (let round = 0; round < 50; round++) {
    if (concurrent) await Promise.all(nodes.map((n) => n.scheduler.tick(now)));
    else {
      for (const n of nodes) {
        await n.scheduler.tick(now);
        await settleJobsOf(app, await app.policyRuns.listDue(Number.MAX_SAFE_INTEGER));
      }
    }
    const open = await app.policyRuns.listDue(now);
    if (open.length === 0) return;
    await settleJobsOf(app, open);
  }
  throw new Error(`policy runs still open at ${new Date(now).toISOString()}`);
}

/** The start of the hour after `ms` (slots of an hourly policy at minute 0). */
export function nextHour(ms: number): number {
  return Math.floor(ms / 3_600_000) * 3_600_000 + 3_600_000;
}

export const HOUR = 3_600_000;
