/**
 * Shutting the job queue down and losing the store under it: stop() must leave nothing that still
 * queries the store (a closed pool turns such a query into an unhandled rejection that kills the
 * process), pending waits must end, and a job whose result could not be written must be recovered
 * like any orphan instead of vanishing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as realDelay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ColumnNode, type KyselyPlugin, type PluginTransformQueryArgs, type RootOperationNode } from 'kysely';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { until } from '../helpers/eventually.ts';
import { quietLog } from '../helpers/test-app.ts';

/**
 * The intervals armed from now on and not cleared yet: a stopped queue must leave none behind, since
 * each could query the store later. (One-shot timeouts end by themselves.)
 */
function trackIntervals(): Set<unknown> {
  const live = new Set<unknown>();
  const arm = globalThis.setInterval;
  const disarm = globalThis.clearInterval;
  vi.spyOn(globalThis, 'setInterval').mockImplementation((...args: Parameters<typeof arm>) => {
    const handle = arm(...args);
    live.add(handle);
    return handle;
  });
  vi.spyOn(globalThis, 'clearInterval').mockImplementation((handle) => {
    live.delete(handle);
    disarm(handle);
  });
  return live;
}

/** Records when each query starts; can fail the UPDATE that stores a job's result. */
class QueryTap implements KyselyPlugin {
  readonly startedAt: number[] = [];
  failResultWrites = false;
  failedWrites = 0;

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.startedAt.push(performance.now());
    if (this.failResultWrites && writesResult(args.node)) {
      this.failedWrites++;
      throw new Error('injected: store unavailable');
    }
    return args.node;
  }

  async transformResult<T>(args: { result: T }): Promise<T> {
    return args.result;
  }
}

function writesResult(node: RootOperationNode): boolean {
  if (node.kind !== 'UpdateQueryNode') return false;
  return (node.updates ?? []).some((u) => ColumnNode.is(u.column) && u.column.column.name === 'result');
}

const submission = (queueKey: string, payload: Record<string, unknown> = {}) => ({
  kind: 'work',
  queueKey,
  accountId: 'a',
  userId: 'u',
  cmd: 'test',
  payload,
});

describe('job queue shutdown', () => {
  let dir: string;
  let store: OpenedStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-jq-'));
    store = await openStore({ url: `sqlite:${join(dir, 'db.sqlite')}` });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stop() waits for the running job, ends pending waits, and nothing queries the store after it', async () => {
    const tap = new QueryTap();
    const queue = new JobQueue({ db: store.db.withPlugin(tap), log: quietLog, pollMs: 5 });
    let release: () => void = () => undefined;
    const slowStarted = new Promise<void>((started) => {
      queue.handle(
        'work',
        async (job) => {
          if (job.payload['slow'] === true) {
            started();
            await new Promise<void>((r) => (release = r));
          }
          return { ran: true };
        },
        async () => ({}),
      );
    });
    const intervals = trackIntervals();
    const reads = vi.spyOn(queue, 'get');
    await queue.start();
    const slow = await queue.submit(submission('vm-1', { slow: true }));
    // Queued behind the slow job on the same VM: never claimed before the queue stops.
    const behind = await queue.submit(submission('vm-1'));
    const waitBehind = queue.waitFor(behind, 10_000);
    const waitBehindOutcome = waitBehind.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await slowStarted;
    await until(() => reads.mock.calls.some(([id]) => id === behind), 'waitFor to poll the job once');

    expect(intervals.size, 'the claim, lease and waitFor intervals run').toBeGreaterThanOrEqual(3);
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    // A window in which a stop() that did not wait would return. It can only make this check pass
    // on a slow machine, never fail it: the job is held until release() below.
    await realDelay(50);
    expect(stopped, 'stop() returned while a job was still running').toBe(false);
    release();
    await stopping;

    expect(await waitBehindOutcome).toBe('job queue stopped');
    const queriesAtStop = tap.startedAt.length;
    // No claim, lease or waitFor timer survives stop(): nothing is left that could query later.
    expect(intervals.size, 'intervals left running after stop()').toBe(0);
    await realDelay(20);
    expect(tap.startedAt.length, 'queries after stop() resolved').toBe(queriesAtStop);
    const status = async (id: string) =>
      (await store.db.selectFrom('async_jobs').select('status').where('id', '=', id).executeTakeFirst())
        ?.status;
    expect(await status(slow)).toBe('succeeded');
    expect(await status(behind)).toBe('queued');
  });

  it('a job whose result cannot be stored stays leased, then is recovered by the next owner', async () => {
    const tap = new QueryTap();
    const first = new JobQueue({ db: store.db.withPlugin(tap), log: quietLog, pollMs: 5, leaseMs: 300 });
    let handled = 0;
    const ran = new Promise<void>((done) => {
      first.handle(
        'work',
        async () => {
          handled++;
          done();
          return { ran: true };
        },
        async () => ({ recovered: 'first' }),
      );
    });
    tap.failResultWrites = true;
    await first.start();
    const id = await first.submit(submission('vm-1'));
    await ran;
    await until(() => tap.failedWrites > 0, 'the failed result write'); // nobody awaits the job
    await first.stop(); // resolves: the failed write was logged, not thrown into the void
    const row = await first.get(id);
    expect(row?.status).toBe('running');
    expect(row?.owner).toBe(first.ownerId);

    // The lease (300 ms) runs out: nobody renews it. A condition on the clock, however slow we are.
    await until(() => Date.now() > (row?.lease_until ?? Infinity), 'the lease to run out');
    const second = new JobQueue({ db: store.db, log: quietLog, pollMs: 5, leaseMs: 300 });
    second.handle(
      'work',
      async () => ({ ran: 'again' }),
      async () => ({ recovered: 'second' }),
    );
    await second.start();
    const done = await second.waitFor(id, 20_000);
    await second.stop();
    expect(done.status).toBe('succeeded');
    expect(JSON.parse(done.result ?? '{}')).toEqual({ recovered: 'second' });
    expect(handled, 'the job body ran once; recovery reconciled it instead of re-running it').toBe(1);
  });
});
