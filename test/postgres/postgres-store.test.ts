/**
 * The same manager, store and job queue on PostgreSQL: the layers above the store do not know which
 * engine they run on. Two JobQueue instances on one database stand in for two management servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { until } from '../helpers/eventually.ts';
import { openTestApp } from '../helpers/test-app.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';

const skipReason = postgresUnavailable();
const log = pino({ level: 'silent' });

describe.skipIf(skipReason !== undefined)(`PostgreSQL store ${skipReason ?? ''}`, () => {
  let db: TempDatabase;
  beforeAll(async () => {
    db = await createTempDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs the snapshot lifecycle with the database on PostgreSQL', async () => {
    const t = await openTestApp({ databaseUrl: db.url });
    try {
      expect(t.app.store.dialect).toBe('postgres');
      const vm = await t.vm('db-1');
      const { snapshot, jobId } = await t.app.snapshotManager.create(t.demo, {
        vmId: vm.id,
        snapshotMemory: true,
      });
      expect((await t.app.deps.jobs.waitFor(jobId)).status).toBe('succeeded');
      const second = await t.app.snapshotManager.create(t.demo, {
        vmId: vm.id,
        snapshotMemory: true,
        name: 'two',
      });
      expect((await t.app.deps.jobs.waitFor(second.jobId)).status).toBe('succeeded');
      const rows = await t.app.deps.snapshots.listByVm(vm.id);
      expect(rows.map((r) => r.state)).toEqual(['Ready', 'Ready']);
      expect(rows.find((r) => r.displayName === 'two')?.parentId).toBe(snapshot.id);
      expect(rows.filter((r) => r.current).map((r) => r.displayName)).toEqual(['two']);
      const del = await t.app.snapshotManager.delete(t.demo, snapshot.id);
      expect((await t.app.deps.jobs.waitFor(del.jobId)).status).toBe('succeeded');
      const after = await t.app.deps.snapshots.listByVm(vm.id);
      expect(after).toHaveLength(1);
      expect(after[0]?.parentId).toBeNull();
    } finally {
      await t.close();
    }
  });

  it('two queues on one database never run two jobs of one VM at once', async () => {
    const stores: OpenedStore[] = [await openStore({ url: db.url }), await openStore({ url: db.url })];
    const running = new Map<string, number>();
    const order = new Map<string, number[]>();
    let overlaps = 0;
    let crossVmParallel = 0;
    const handler = async (job: { queueKey: string; payload: Readonly<Record<string, unknown>> }) => {
      const now = running.get(job.queueKey) ?? 0;
      if (now > 0) overlaps++;
      if ([...running.values()].some((n) => n > 0)) crossVmParallel++;
      running.set(job.queueKey, now + 1);
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
      order.set(job.queueKey, [...(order.get(job.queueKey) ?? []), Number(job.payload['n'])]);
      running.set(job.queueKey, (running.get(job.queueKey) ?? 1) - 1);
      return {};
    };
    const queues = stores.map((s) => new JobQueue({ db: s.db, log, concurrency: 8, pollMs: 20 }));
    for (const q of queues) q.handle('work', handler, handler);
    const ids: string[] = [];
    for (let n = 0; n < 60; n++) {
      ids.push(
        await queues[n % 2]!.submit({
          kind: 'work',
          queueKey: `vm-${n % 4}`,
          accountId: 'a',
          userId: 'u',
          cmd: 'test',
          payload: { n },
        }),
      );
    }
    await Promise.all(queues.map((q) => q.start()));
    for (const id of ids) await queues[0]!.waitFor(id, 30_000);
    await Promise.all(queues.map((q) => q.stop()));
    await Promise.all(stores.map((s) => s.close()));
    expect(overlaps).toBe(0);
    expect(crossVmParallel).toBeGreaterThan(0);
    for (const [vm, seen] of order) {
      const expected = [...seen].sort((a, b) => a - b);
      expect(seen, `FIFO order on ${vm}`).toEqual(expected);
      expect(seen).toHaveLength(15);
    }
  });

  it('keeps serving after PostgreSQL drops its idle connections (no crash on the pool error)', async () => {
    const lost: string[] = [];
    const capture = {
      info: () => undefined,
      debug: () => undefined,
      error: () => undefined,
      warn: (_obj: object | string, msg?: string) => void lost.push(msg ?? ''),
    };
    const store = await openStore({ url: db.url }, capture);
    try {
      // Open several pooled connections, then let them go idle.
      await Promise.all(
        Array.from({ length: 3 }, () => store.db.selectFrom('settings').selectAll().execute()),
      );
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      await admin.end();
      expect(killed.rowCount).toBeGreaterThan(0);
      // Each killed connection reports its loss; a query handed a connection whose loss has not
      // arrived yet would fail like any query on a dead link, so wait for all of them.
      await until(() => lost.length >= (killed.rowCount ?? 1), 'every killed connection to report its loss');
      expect(lost.filter((m) => m === 'idle PostgreSQL connection lost')).toHaveLength(killed.rowCount ?? 1);
      // The pool replaced the dead connections: the store still answers.
      const rows = await store.db.selectFrom('settings').selectAll().execute();
      expect(Array.isArray(rows)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('an App stopped while its heartbeat and expiry rounds run leaves no query behind', async () => {
    const fresh = await createTempDatabase(); // the first test seeded the shared one
    const t = await openTestApp({ databaseUrl: fresh.url, heartbeatIntervalMs: 1, expiryIntervalMs: 1 });
    const vm = await t.vm('web-1');
    const { jobId } = await t.app.snapshotManager.create(t.demo, { vmId: vm.id, snapshotMemory: false });
    expect((await t.app.deps.jobs.waitFor(jobId)).status).toBe('succeeded');
    await t.close();
    // Rounds that were in flight finished before the pool closed; any late query would surface
    // here as an unhandled rejection and fail this file.
    await new Promise((r) => setTimeout(r, 200));
    const check = await openStore({ url: fresh.url });
    try {
      const job = await check.db
        .selectFrom('async_jobs')
        .select('status')
        .where('id', '=', jobId)
        .executeTakeFirst();
      expect(job?.status).toBe('succeeded');
    } finally {
      await check.close();
      await fresh.drop();
    }
  });
});
