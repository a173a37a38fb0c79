/**
 * List benchmark (`npm run bench:lists`): issue 9, item 3. A noisy tenant's 30,000 finished
 * jobs (and as many events and tags) must not slow another tenant's lists. One process: the test
 * suite's API server (a seeded App on SQLite in a temp dir) and its signing clients; the rows are
 * written straight into the store by the list tests' flood helper.
 *
 * Printed, for demo's listAsyncJobs / listEvents / listTags before and after the flood: p50 and p99
 * of sequential calls, and the wall time of 16 concurrent listAsyncJobs calls; after the flood also
 * the noisy tenant's own first page (count = 30,000) and an admin's listall page. Figures only: no
 * thresholds. Last line: `bench:list rows=N before_p50_ms=N after_p50_ms=N after_p99_ms=N
 * concurrent16_ms=N`.
 *
 * Options (env): BENCH_ROWS (30000), BENCH_CALLS (200 sequential calls per measurement).
 */
import { AccountStore } from '../src/store/account-store.ts';
import { TestApiClient } from '../test/helpers/api-client.ts';
import { startApiServer } from '../test/helpers/api-server.ts';
import { floodLists } from '../test/helpers/list-flood.ts';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function timeSequential(
  calls: number,
  work: () => Promise<unknown>,
): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await work();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function timeConcurrent(concurrency: number, work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => work()));
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 30_000);
  const calls = Number(process.env['BENCH_CALLS'] ?? 200);
  // The test suite's API server: a seeded App on SQLite in a temp dir, signing clients for it.
  const h = await startApiServer();
  try {
    const { demo, admin } = h;
    const { db } = h.t.app.deps;
    const created = await new AccountStore(db).createAccount('noisy', 'user');
    const noisy = new TestApiClient(h.url, created.apiKey, created.secretKey);
    const list =
      (client: TestApiClient, command: string, params: Record<string, string> = {}) =>
      () =>
        client.payload(command, params);
    // Demo's own history: a page's worth of jobs, events and tags.
    await floodLists(db, h.t.demo, 20, 'demo');
    const lists = ['listAsyncJobs', 'listEvents', 'listTags'] as const;

    const before = new Map<string, { p50: number; p99: number }>();
    for (const name of lists) before.set(name, await timeSequential(calls, list(demo, name)));
    const t0 = performance.now();
    await floodLists(db, { accountId: created.account.id, userId: created.user.id }, rows, 'noisy');
    console.log(
      `flood: ${rows} jobs, events and tags of another tenant in ${(performance.now() - t0).toFixed(0)} ms`,
    );

    let afterJobs = { p50: 0, p99: 0 };
    for (const name of lists) {
      const after = await timeSequential(calls, list(demo, name));
      if (name === 'listAsyncJobs') afterJobs = after;
      const b = before.get(name);
      console.log(
        `${name.padEnd(14)} demo  before p50=${b?.p50.toFixed(2)} ms p99=${b?.p99.toFixed(2)} ms` +
          `  after p50=${after.p50.toFixed(2)} ms p99=${after.p99.toFixed(2)} ms`,
      );
    }
    const concurrent = await timeConcurrent(16, list(demo, 'listAsyncJobs'));
    console.log(`16 concurrent demo listAsyncJobs: ${concurrent.toFixed(1)} ms wall`);
    const own = await timeSequential(20, list(noisy, 'listAsyncJobs', { page: '1', pagesize: '20' }));
    console.log(
      `noisy tenant's own page (count=${rows}): p50=${own.p50.toFixed(2)} ms p99=${own.p99.toFixed(2)} ms`,
    );
    const listall = await timeSequential(
      20,
      list(admin, 'listAsyncJobs', { listall: 'true', page: '3', pagesize: '20' }),
    );
    console.log(`admin listall page 3: p50=${listall.p50.toFixed(2)} ms p99=${listall.p99.toFixed(2)} ms`);
    console.log(
      `bench:list rows=${rows} before_p50_ms=${before.get('listAsyncJobs')?.p50.toFixed(2)} ` +
        `after_p50_ms=${afterJobs.p50.toFixed(2)} after_p99_ms=${afterJobs.p99.toFixed(2)} ` +
        `concurrent16_ms=${concurrent.toFixed(1)}`,
    );
  } finally {
    await h.close();
  }
}

await main();
