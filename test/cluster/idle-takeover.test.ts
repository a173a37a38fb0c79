/**
 * Issue 12, item 2: an idle server takes over a dead server's job. The job queue used to look for
 * orphans only while it ran jobs of its own (`renewLeases` returned early when idle), so a job left
 * running by a SIGKILLed server stayed running for ever when the other servers were idle.
 *
 * A server that died mid-job is a `running` row owned by it, its lease ending `LEASE_MS` after its
 * last renewal. Three idle queues on the same database (separate connections, as three servers) run
 * on a fake clock: before the lease ends nobody takes the job; once it ended, exactly one of them
 * takes it over within a recovery tick, runs its recovery handler once and reports the take-over.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobQueue, type Takeover } from '../../src/jobs/job-queue.ts';
import type { OpenedStore } from '../../src/store/database.ts';
import { until } from '../helpers/eventually.ts';
import { useFakeClock } from '../helpers/fake-clock.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { quietLog } from '../helpers/test-app.ts';
import { sharedDatabase, type Engine, type SharedDatabase } from './cluster-db.ts';

const LEASE_MS = 20_000;
const RECOVER_EVERY_MS = 1_000;

const engines: { engine: Engine; skip: string | undefined }[] = [
  { engine: 'sqlite', skip: undefined },
  { engine: 'postgres', skip: postgresUnavailable() },
];

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`idle take-over of a dead server's job (${engine})`, () => {
    let shared: SharedDatabase;
    const queues: JobQueue[] = [];
    beforeEach(async () => {
      useFakeClock();
      shared = await sharedDatabase(engine);
    });
    afterEach(async () => {
      for (const q of queues.splice(0)) await q.stop({ handBackAfterMs: 0 }).catch(() => undefined);
      vi.useRealTimers();
      await shared.drop();
    });

    /** A job that server "dead-a" claimed at `at` and never renewed: it died then. */
    async function orphanOf(store: OpenedStore, at: number): Promise<string> {
      const submitter = new JobQueue({ db: store.db, log: quietLog, ownerId: 'dead-a' });
      const id = await submitter.submit({
        kind: 'work',
        queueKey: 'vm-1',
        accountId: 'acct',
        userId: 'user',
        cmd: 'test',
        payload: {},
      });
      await store.db
        .updateTable('async_jobs')
        .set({ status: 'running', owner: 'dead-a', started: at, lease_until: at + LEASE_MS, attempts: 1 })
        .where('id', '=', id)
        .execute();
      return id;
    }

    it('is taken over exactly once, after the lease and within a recovery tick, by one idle server', async () => {
      const died = Date.now();
      const jobId = await orphanOf(await shared.connect(), died);
      const recoveries: string[] = [];
      const takeovers: (Takeover & { at: number })[] = [];
      for (const name of ['b', 'c', 'd']) {
        const store = await shared.connect();
        const q = new JobQueue({
          db: store.db,
          log: quietLog,
          ownerId: `server-${name}`,
          leaseMs: LEASE_MS,
          recoverEveryMs: RECOVER_EVERY_MS,
          onTakeover: async (t) => void takeovers.push({ ...t, at: Date.now() }),
        });
        q.handle(
          'work',
          async () => ({ ran: 'normally' }),
          async (job) => {
            recoveries.push(`${name}:${job.id}`);
            return { recoveredBy: name };
          },
        );
        await q.start();
        queues.push(q);
      }
      // One tick short of the lease's end: every idle server has looked, none may take it.
      await vi.advanceTimersByTimeAsync(LEASE_MS - 1);
      expect(await queues[0]!.recoverOrphans()).toBe(0);
      expect((await queues[0]!.get(jobId))?.owner).toBe('dead-a');

      // The lease ended: the next recovery tick of some idle server takes it. On PostgreSQL a scan
      // waits for real I/O, so the fake clock is moved a tick at a time until one has taken it.
      await vi.advanceTimersByTimeAsync(RECOVER_EVERY_MS + 1);
      for (let ticks = 0; takeovers.length === 0 && ticks < 30; ticks++) {
        // Bounded wait for this tick's scans; not taken yet, the clock moves on by one more tick.
        await until(() => takeovers.length > 0, 'a take-over at this tick', 500).catch(() => undefined);
        if (takeovers.length === 0) await vi.advanceTimersByTimeAsync(RECOVER_EVERY_MS);
      }
      await until(
        async () => (await queues[0]!.get(jobId))?.status === 'succeeded',
        'the recovered job to finish',
      );

      const row = await queues[0]!.get(jobId);
      expect(takeovers).toHaveLength(1);
      expect(recoveries).toHaveLength(1);
      const [takeover] = takeovers;
      expect(takeover).toMatchObject({ previousOwner: 'dead-a' });
      expect(takeover!.job.id).toBe(jobId);
      expect(recoveries[0]).toBe(`${takeover!.newOwner.replace('server-', '')}:${jobId}`);
      expect(JSON.parse(row!.result ?? '{}')).toEqual({
        recoveredBy: takeover!.newOwner.replace('server-', ''),
      });
      // Never before the lease ended; on SQLite (no real I/O in a scan) exactly at the first tick after.
      expect(takeover!.at).toBeGreaterThan(died + LEASE_MS);
      if (engine === 'sqlite') expect(takeover!.at).toBeLessThanOrEqual(died + LEASE_MS + RECOVER_EVERY_MS);

      // Later ticks find nothing more to take: the job is final.
      await vi.advanceTimersByTimeAsync(3 * RECOVER_EVERY_MS);
      expect(await queues[1]!.recoverOrphans()).toBe(0);
      expect(takeovers).toHaveLength(1);
      expect(recoveries).toHaveLength(1);
    });
  });
}
