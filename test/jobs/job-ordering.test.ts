/**
 * Per-VM ordering under load: all jobs of one queue (one VM) run one at a time in submission order;
 * different queues run in parallel. Checked on the bare JobQueue, with two JobQueues sharing one SQLite
 * file (a stand-in for two management servers), and through the managers with a delaying simulator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import { settleJobs, waitJob } from '../helpers/core-helpers.ts';
import { until } from '../helpers/eventually.ts';
import { openTestApp, quietLog, type TestApp } from '../helpers/test-app.ts';

interface Run {
  readonly queue: string;
  readonly index: number;
  readonly owner: string;
  readonly start: number;
  readonly end: number;
}

/** A tiny seeded PRNG so a failing run can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Jitter for the handlers (shuffles interleavings); never used to wait for anything. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Queues the `index`-th job of queue `key`. */
function submitWork(queue: JobQueue, key: string, index: number): Promise<string> {
  return queue.submit({
    kind: 'work',
    queueKey: key,
    accountId: 'a',
    userId: 'u',
    cmd: 'test',
    payload: { index },
  });
}

/** Checks per-queue exclusivity and order, and that different queues overlapped at least once. */
function checkRuns(runs: readonly Run[], expectedPerQueue: ReadonlyMap<string, number>): void {
  const byQueue = new Map<string, Run[]>();
  for (const r of runs) byQueue.set(r.queue, [...(byQueue.get(r.queue) ?? []), r]);
  expect([...byQueue.keys()].sort()).toEqual([...expectedPerQueue.keys()].sort());
  for (const [queue, list] of byQueue) {
    expect(
      list.map((r) => r.index),
      `queue ${queue} ran in submission order`,
    ).toEqual(Array.from({ length: expectedPerQueue.get(queue) ?? -1 }, (_, i) => i));
    const byStart = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < byStart.length; i++) {
      const prev = byStart[i - 1]!;
      const cur = byStart[i]!;
      expect(
        cur.start,
        `queue ${queue}: job ${cur.index} started before job ${prev.index} ended`,
      ).toBeGreaterThanOrEqual(prev.end);
    }
  }
  const overlapped = runs.some((a) =>
    runs.some((b) => a.queue !== b.queue && a.start < b.end && b.start < a.end),
  );
  expect(overlapped, 'jobs of different queues ran in parallel').toBe(true);
}

describe('JobQueue ordering under load', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function store(dir: string): Promise<OpenedStore> {
    const opened = await openStore({ url: `sqlite:${join(dir, 'jobs.db')}` });
    cleanup.push(() => opened.close());
    return opened;
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-jobs-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A queue whose `work` handler sleeps a random few ms and records when it ran. */
  function queueRecording(
    db: OpenedStore['db'],
    runs: Run[],
    random: () => number,
    violations: string[],
    running: Map<string, number>,
  ): JobQueue {
    const q = new JobQueue({ db, log: quietLog, concurrency: 8, pollMs: 10 });
    q.handle(
      'work',
      async (job) => {
        const queue = job.queueKey;
        const now = (running.get(queue) ?? 0) + 1;
        running.set(queue, now);
        if (now > 1) violations.push(`${queue}: ${now} jobs at once`);
        const start = performance.now();
        await sleep(Math.floor(random() * 4));
        if (random() < 0.3) await Promise.resolve();
        const end = performance.now();
        running.set(queue, (running.get(queue) ?? 1) - 1);
        runs.push({ queue, index: Number(job.payload['index']), owner: q.ownerId, start, end });
        // Some jobs fail: a failure must release the queue just like a success.
        if (random() < 0.1) throw new Error('planned failure');
        return { index: job.payload['index'] as number };
      },
      async () => ({}),
    );
    cleanup.push(async () => void (await q.stop()));
    return q;
  }

  async function submitMany(
    queues: readonly JobQueue[],
    n: number,
    keys: readonly string[],
    random: () => number,
  ): Promise<Map<string, number>> {
    const counts = new Map<string, number>(keys.map((k) => [k, 0]));
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const index = counts.get(key) ?? 0;
      counts.set(key, index + 1);
      const via = queues[i % queues.length]!;
      ids.push(await submitWork(via, key, index));
    }
    // Wait for every job, whichever queue instance ran it.
    const waiter = queues[0]!;
    for (const id of ids) {
      await until(async () => {
        const status = (await waiter.get(id))?.status;
        return status === 'succeeded' || status === 'failed';
      }, `job ${id} to finish`);
    }
    return counts;
  }

  it('200 jobs over 4 queues: no overlap within a queue, submission order kept, queues in parallel', async () => {
    const { db } = await store(tempDir());
    const random = prng(42);
    const runs: Run[] = [];
    const violations: string[] = [];
    const q = queueRecording(db, runs, random, violations, new Map());
    await q.start();
    const counts = await submitMany([q], 200, ['vm-a', 'vm-b', 'vm-c', 'vm-d'], random);
    expect(runs).toHaveLength(200);
    expect(violations).toEqual([]);
    checkRuns(runs, counts);
    const rows = await db.selectFrom('async_jobs').selectAll().execute();
    expect(rows.filter((r) => r.status === 'failed').length).toBeGreaterThan(0);
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
  });

  it('jobs submitted while the queue is busy still run in order (submissions interleaved with execution)', async () => {
    const { db } = await store(tempDir());
    const random = prng(7);
    const runs: Run[] = [];
    const violations: string[] = [];
    const q = queueRecording(db, runs, random, violations, new Map());
    await q.start();
    const keys = ['vm-a', 'vm-b', 'vm-c', 'vm-d'];
    const counts = new Map<string, number>(keys.map((k) => [k, 0]));
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const index = counts.get(key) ?? 0;
      counts.set(key, index + 1);
      ids.push(await submitWork(q, key, index));
      if (random() < 0.2) await sleep(1);
    }
    for (const id of ids) await q.waitFor(id, 20_000);
    expect(violations).toEqual([]);
    checkRuns(runs, counts);
  });

  it('two JobQueue instances on the same SQLite file (two connections) never overlap a queue', async () => {
    const dir = tempDir();
    const a = await store(dir);
    const b = await store(dir);
    const random = prng(1234);
    const runs: Run[] = [];
    const violations: string[] = [];
    const running = new Map<string, number>();
    const qa = queueRecording(a.db, runs, random, violations, running);
    const qb = queueRecording(b.db, runs, random, violations, running);
    await Promise.all([qa.start(), qb.start()]);
    const counts = await submitMany([qa, qb], 160, ['vm-a', 'vm-b', 'vm-c', 'vm-d'], random);
    expect(runs).toHaveLength(160);
    expect(violations).toEqual([]);
    checkRuns(runs, counts);
    const owners = new Set(runs.map((r) => r.owner));
    expect(owners.size, 'both instances claimed work').toBe(2);
  });
});

describe('per-VM ordering through the managers (simulator with delays)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a mix of start/stop/create/revert/delete over 4 VMs: one job at a time per VM, in order', async () => {
    t = await openTestApp();
    const app = t.app;
    await app.deps.settings.set('vmsnapshot.max', '1000');
    // Every agent command takes a few ms, so jobs really are in flight together.
    app.simulator.configure({ name: '*', value: 'wait:3' });
    const vms = await Promise.all(['web-1', 'db-1', 'app-1', 'batch-1'].map((n) => t!.vm(n)));
    // One Ready disk snapshot per VM to revert to / delete later (a stopped VM may revert to it).
    const base = new Map<string, string>();
    for (const vm of vms) {
      const made = await app.snapshotManager.create(t.demo, { vmId: vm.id, name: `base-${vm.displayName}` });
      expect((await waitJob(app, made.jobId)).status).toBe('succeeded');
      base.set(vm.id, made.snapshot.id);
    }
    const random = prng(99);
    const submitted: string[] = [];
    for (let i = 0; i < 120; i++) {
      const vm = vms[Math.floor(random() * vms.length)]!;
      const pick = random();
      // Snapshot requests may be refused by the synchronous checks (another snapshot task in flight, a
      // running VM for a disk revert): that is a check, not a job, so only accepted ones are tracked.
      const accepted = (p: Promise<{ jobId: string }>): Promise<void> =>
        p.then(
          (r) => void submitted.push(r.jobId),
          () => undefined,
        );
      if (pick < 0.3) submitted.push((await app.vmManager.stop(t.demo, vm.id)).jobId);
      else if (pick < 0.6) submitted.push((await app.vmManager.start(t.demo, vm.id)).jobId);
      else if (pick < 0.8) await accepted(app.snapshotManager.create(t.demo, { vmId: vm.id, name: `s${i}` }));
      else if (pick < 0.93) await accepted(app.snapshotManager.revert(t.demo, base.get(vm.id) ?? ''));
      else {
        const snaps = await app.deps.snapshots.listByVm(vm.id);
        const victim = snaps[Math.floor(random() * snaps.length)];
        if (victim !== undefined && victim.id !== base.get(vm.id))
          await accepted(app.snapshotManager.delete(t.demo, victim.id));
      }
    }
    // The start/stop jobs are never refused, so most of the load is there whatever the creates did.
    expect(submitted.length).toBeGreaterThanOrEqual(70);
    const kinds = new Set(
      (await app.deps.db.selectFrom('async_jobs').select('kind').execute()).map((r) => r.kind),
    );
    for (const kind of ['vm.start', 'vm.stop', 'vmsnapshot.create']) expect(kinds).toContain(kind);
    const rows = await settleJobs(app, 30_000);
    const load = rows.filter((r) => submitted.includes(r.id));
    expect(load).toHaveLength(submitted.length);
    checkJobRows(load);
    // The final DB power state is what the last start/stop of each VM asked for (order was kept).
    for (const vm of vms) {
      const last = [...load]
        .filter((r) => r.queue_key === vm.id && (r.kind === 'vm.start' || r.kind === 'vm.stop'))
        .sort((x, y) => x.seq - y.seq)
        .at(-1);
      if (last !== undefined) {
        expect((await t.vm(vm.displayName)).state).toBe(last.kind === 'vm.start' ? 'Running' : 'Stopped');
      }
    }
  });
});

/** Job rows of several VMs: per queue, each job started after the previous (by seq) completed. */
function checkJobRows(rows: readonly AsyncJobRow[]): void {
  const byQueue = new Map<string, AsyncJobRow[]>();
  for (const r of rows) byQueue.set(r.queue_key, [...(byQueue.get(r.queue_key) ?? []), r]);
  expect(byQueue.size).toBe(4);
  for (const [queue, list] of byQueue) {
    const bySeq = [...list].sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < bySeq.length; i++) {
      const prev = bySeq[i - 1]!;
      const cur = bySeq[i]!;
      expect(
        Number(cur.started),
        `queue ${queue}: job ${cur.seq} overlapped ${prev.seq}`,
      ).toBeGreaterThanOrEqual(Number(prev.completed));
    }
  }
  const overlapped = rows.some((a) =>
    rows.some(
      (b) =>
        a.queue_key !== b.queue_key &&
        Number(a.started) < Number(b.completed) &&
        Number(b.started) < Number(a.completed),
    ),
  );
  expect(overlapped, 'jobs of different VMs ran in parallel').toBe(true);
}
