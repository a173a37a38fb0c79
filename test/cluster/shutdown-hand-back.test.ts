/**
 * Issue 12, item 4 (SIGTERM): a stopping server lets its running jobs finish for a bound
 * (job.shutdown.wait), then hands the rest back: their lease ends at once, another server recovers
 * them, and what the stopping server's handler returns later is not stored over the new owner's
 * outcome. Before, stop() waited for ever for a job whose host never answered. Fake clock: the
 * bound is exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobQueue, type StopReport, type Takeover } from '../../src/jobs/job-queue.ts';
import { until } from '../helpers/eventually.ts';
import { settlesAt, useFakeClock } from '../helpers/fake-clock.ts';
import { quietLog } from '../helpers/test-app.ts';
import { sharedDatabase, type SharedDatabase } from './cluster-db.ts';

const BOUND_MS = 5_000;

describe('stop() with a hand-back bound', () => {
  let shared: SharedDatabase;
  beforeEach(async () => {
    useFakeClock();
    shared = await sharedDatabase('sqlite');
  });
  afterEach(async () => {
    vi.useRealTimers();
    await shared.drop();
  });

  it('waits the bound, hands the hung job back, and the other server recovers it once', async () => {
    let release: (() => void) | undefined;
    let started = false;
    const logA = quietLog.child({ server: 'a' });
    const warnings = vi.spyOn(logA, 'warn');
    const stopping = new JobQueue({ db: (await shared.connect()).db, log: logA, ownerId: 'server-a' });
    stopping.handle(
      'work',
      async () => {
        started = true;
        await new Promise<void>((r) => (release = r));
        return { by: 'a, too late' };
      },
      async () => ({ by: 'a recovering' }),
    );
    const takeovers: Takeover[] = [];
    const other = new JobQueue({
      db: (await shared.connect()).db,
      log: quietLog,
      ownerId: 'server-b',
      onTakeover: async (t) => void takeovers.push(t),
    });
    other.handle(
      'work',
      async () => ({ by: 'b' }),
      async () => ({ by: 'b recovering' }),
    );
    await stopping.start();
    const id = await stopping.submit({
      kind: 'work',
      queueKey: 'vm-1',
      accountId: 'acct',
      userId: 'user',
      cmd: 'test',
      payload: {},
    });
    await until(() => started, 'server A to run the job');

    const report: StopReport = await settlesAt(BOUND_MS, stopping.stop({ handBackAfterMs: BOUND_MS }));
    expect(report).toEqual({ finished: 0, handedBack: 1 });
    expect(await other.get(id)).toMatchObject({ status: 'running', owner: 'server-a', lease_until: 0 });

    // Handed back: recovered at once by the other server (no lease to wait out), exactly once.
    expect(await other.recoverOrphans()).toBe(1);
    expect(await other.recoverOrphans()).toBe(0);
    await until(async () => (await other.get(id))?.status === 'succeeded', 'server B to finish the job');
    expect(takeovers.map((t) => t.previousOwner)).toEqual(['server-a']);

    // Server A's handler returns after all: its result is not stored over B's.
    release?.();
    const refused = 'job no longer owned by this server: its result is not stored here';
    await until(
      () => warnings.mock.calls.some((c) => c[1] === refused),
      'server A to try to store its result',
    );
    const row = await other.get(id);
    expect(JSON.parse(row?.result ?? '{}')).toEqual({ by: 'b recovering' });
    await other.stop();
  });

  it('jobs that finish within the bound are not handed back', async () => {
    const q = new JobQueue({ db: (await shared.connect()).db, log: quietLog, ownerId: 'server-a' });
    let release: (() => void) | undefined;
    q.handle(
      'work',
      async () => {
        await new Promise<void>((r) => (release = r));
        return { done: true };
      },
      async () => ({}),
    );
    await q.start();
    const id = await q.submit({
      kind: 'work',
      queueKey: 'vm-1',
      accountId: 'a',
      userId: 'u',
      cmd: 't',
      payload: {},
    });
    await until(() => release !== undefined, 'the job to start');
    const stopped = q.stop({ handBackAfterMs: BOUND_MS });
    release?.();
    expect(await stopped).toEqual({ finished: 1, handedBack: 0 });
    expect((await q.get(id))?.status).toBe('succeeded');
  });
});
