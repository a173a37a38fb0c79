/**
 * Issue 15: polls of a job this server runs are answered from the job's state in memory, not from
 * SQL; the memory is the stored row (updated on every change written), and only while this server's
 * lease holds. Once the lease has run out another server may have taken the job, so the row is read
 * from the store again. The lease clock is injected; statements are counted at the driver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobQueue, type JobHandler } from '../../src/jobs/job-queue.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import { until } from '../helpers/eventually.ts';
import { installStatementCounter } from '../helpers/sql-statement-counter.ts';
import { quietLog } from '../helpers/test-app.ts';

const statements = installStatementCounter();
const LEASE_MS = 60_000;

const submission = {
  kind: 'work',
  queueKey: 'vm-1',
  accountId: 'a',
  userId: 'u',
  cmd: 'test',
  payload: {},
};

/** The columns a poll shows or the lease protocol reads. */
function polled(row: AsyncJobRow | undefined) {
  if (row === undefined) return undefined;
  const { status, progress, owner, lease_until, started, attempts, result, result_code } = row;
  return { status, progress, owner, lease_until, started, attempts, result, result_code };
}

describe('queryAsyncJobResult polls of a running job', () => {
  let dir: string;
  let store: OpenedStore;
  let clock: number;
  let release: () => void;
  let running: Promise<void>;
  let queue: JobQueue;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-jq-memory-'));
    store = await openStore({ url: `sqlite:${join(dir, 'db.sqlite')}` });
    clock = 1_000_000;
    const held = new Promise<void>((r) => (release = r));
    let started: () => void = () => undefined;
    running = new Promise<void>((r) => (started = r));
    const handler: JobHandler = async (job) => {
      await job.progress('step one');
      started();
      await held;
      return { done: true };
    };
    queue = new JobQueue({ db: store.db, log: quietLog, leaseMs: LEASE_MS, now: () => clock });
    queue.handle('work', handler, async () => ({ recovered: 'by a' }));
    await queue.start();
  });

  afterEach(async () => {
    release();
    await queue.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = async (id: string) =>
    store.db.selectFrom('async_jobs').selectAll().where('id', '=', id).executeTakeFirst();

  it('are answered from memory while the lease holds, with exactly the stored row', async () => {
    const id = await queue.submit(submission);
    await running;
    statements.reset();
    const answer = await queue.get(id);
    expect(statements.count, 'statements for a poll of a job running here').toBe(0);
    expect(polled(answer)).toEqual(polled(await stored(id)));
    expect(answer).toMatchObject({ status: 'running', progress: 'step one', owner: queue.ownerId });
  });

  it('are read from the store once the lease ran out, and show the server that took the job over', async () => {
    const id = await queue.submit(submission);
    await running;
    // This server stalls past its lease; another one takes the job over and finishes it.
    clock += 2 * LEASE_MS;
    const other = new JobQueue({ db: store.db, log: quietLog, leaseMs: LEASE_MS, now: () => clock });
    other.handle(
      'work',
      async () => ({}),
      async () => ({ recovered: 'by b' }),
    );
    expect(await other.recoverOrphans()).toBe(1);
    await until(async () => (await stored(id))?.status === 'succeeded', 'the take-over to finish');

    statements.reset();
    const answer = await queue.get(id);
    expect(statements.count, 'the poll went to the store').toBe(1);
    expect(polled(answer)).toEqual(polled(await stored(id)));
    expect(answer?.result).toBe(JSON.stringify({ recovered: 'by b' }));
    // The stalled server's own outcome is refused: the row stays the other server's.
    release();
    await until(() => queue.activeCount === 0, 'the stalled job to end here');
    expect((await queue.get(id))?.result).toBe(JSON.stringify({ recovered: 'by b' }));
  });
});
