/**
 * List benchmark (`npx tsx bench/list-bench.ts`): issue 9, item 3. A noisy tenant's 30,000 finished
 * jobs (and as many events and tags) must not slow another tenant's lists. One process: a seeded
 * App on SQLite in a temp dir behind the real API server, and signed HTTP calls from here.
 *
 * Printed, for demo's listAsyncJobs / listEvents / listTags before and after the flood: p50 and p99
 * of sequential calls, and the wall time of 16 concurrent listAsyncJobs calls; after the flood also
 * the noisy tenant's own first page (count = 30,000) and an admin's listall page. Figures only: no
 * thresholds. Last line: `bench:list rows=N before_p50_ms=N after_p50_ms=N after_p99_ms=N
 * concurrent16_ms=N`.
 *
 * Options (env): BENCH_ROWS (30000), BENCH_CALLS (200 sequential calls per measurement).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { signRequest } from '../src/api/protocol/index.ts';
import { buildServer } from '../src/api/server.ts';
import { App } from '../src/app/app.ts';
import { loadConfig } from '../src/app/app-config.ts';
import { seed } from '../src/app/seed.ts';
import { AccountStore } from '../src/store/account-store.ts';
import type { Db } from '../src/store/database.ts';
import { sortableId } from '../src/store/sortable-id.ts';

interface Keys {
  readonly apiKey: string;
  readonly secretKey: string;
}

async function call(
  url: string,
  keys: Keys,
  command: string,
  params: Record<string, string> = {},
): Promise<unknown> {
  const query = signRequest({ command, response: 'json', ...params }, keys.apiKey, keys.secretKey);
  const res = await fetch(`${url}/client/api?${query}`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${command} -> ${res.status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as unknown;
}

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

/** The noisy tenant's history: finished tag jobs, their events, and tags on distinct resources. */
async function flood(db: Db, accountId: string, userId: string, rows: number): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < rows; start += 250) {
    const ids = Array.from({ length: Math.min(250, rows - start) }, () => sortableId(now));
    await db
      .insertInto('async_jobs')
      .values(
        ids.map((id) => ({
          id,
          account_id: accountId,
          user_id: userId,
          cmd: 'org.apache.cloudstack.api.command.user.tag.CreateTagsCmd',
          kind: 'tags',
          queue_key: `done:${id}`,
          instance_type: null,
          instance_id: null,
          payload: '{}',
          status: 'succeeded',
          result_code: 0,
          result: '{"success":true}',
          progress: null,
          owner: null,
          lease_until: null,
          attempts: 1,
          created: now,
          started: now,
          completed: now,
        })),
      )
      .execute();
    await db
      .insertInto('events')
      .values(
        ids.map((id) => ({
          id,
          account_id: accountId,
          user_id: userId,
          type: 'TAGS.CREATE',
          level: 'INFO',
          state: 'Completed',
          description: 'noisy',
          resource_type: null,
          resource_id: null,
          created: now,
        })),
      )
      .execute();
    await db
      .insertInto('resource_tags')
      .values(
        ids.map((id) => ({
          id,
          key: 'noisy',
          value: 'x',
          resource_type: 'UserVm',
          resource_id: sortableId(now),
          account_id: accountId,
          created: now,
        })),
      )
      .execute();
  }
}

async function main(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 30_000);
  const calls = Number(process.env['BENCH_CALLS'] ?? 200);
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-list-bench-'));
  const app = await App.open({ config: loadConfig(dir, { plugins: [] }), log: pino({ level: 'silent' }) });
  try {
    const seeded = await seed(app);
    await app.start();
    const server = await buildServer(app);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    const demo: Keys = seeded.demo;
    const admin: Keys = seeded.admin;
    const accounts = new AccountStore(app.deps.db);
    const noisy = await accounts.createAccount('noisy', 'user');
    // Demo's own history: a page's worth of jobs, events and tags.
    const demoUser = await accounts.findByApiKey(demo.apiKey);
    if (demoUser === undefined) throw new Error('seeded demo user missing');
    await flood(app.deps.db, demoUser.account.id, demoUser.user.id, 20);
    const lists = ['listAsyncJobs', 'listEvents', 'listTags'] as const;

    const before = new Map<string, { p50: number; p99: number }>();
    for (const list of lists) before.set(list, await timeSequential(calls, () => call(url, demo, list)));
    const t0 = performance.now();
    await flood(app.deps.db, noisy.account.id, noisy.user.id, rows);
    console.log(
      `flood: ${rows} jobs, events and tags of another tenant in ${(performance.now() - t0).toFixed(0)} ms`,
    );

    let afterJobs = { p50: 0, p99: 0 };
    for (const list of lists) {
      const after = await timeSequential(calls, () => call(url, demo, list));
      if (list === 'listAsyncJobs') afterJobs = after;
      const b = before.get(list);
      console.log(
        `${list.padEnd(14)} demo  before p50=${b?.p50.toFixed(2)} ms p99=${b?.p99.toFixed(2)} ms` +
          `  after p50=${after.p50.toFixed(2)} ms p99=${after.p99.toFixed(2)} ms`,
      );
    }
    const concurrent = await timeConcurrent(16, () => call(url, demo, 'listAsyncJobs'));
    console.log(`16 concurrent demo listAsyncJobs: ${concurrent.toFixed(1)} ms wall`);
    const own = await timeSequential(20, () =>
      call(url, noisy, 'listAsyncJobs', { page: '1', pagesize: '20' }),
    );
    console.log(
      `noisy tenant's own page (count=${rows}): p50=${own.p50.toFixed(2)} ms p99=${own.p99.toFixed(2)} ms`,
    );
    const listall = await timeSequential(20, () =>
      call(url, admin, 'listAsyncJobs', { listall: 'true', page: '3', pagesize: '20' }),
    );
    console.log(`admin listall page 3: p50=${listall.p50.toFixed(2)} ms p99=${listall.p99.toFixed(2)} ms`);
    console.log(
      `bench:list rows=${rows} before_p50_ms=${before.get('listAsyncJobs')?.p50.toFixed(2)} ` +
        `after_p50_ms=${afterJobs.p50.toFixed(2)} after_p99_ms=${afterJobs.p99.toFixed(2)} ` +
        `concurrent16_ms=${concurrent.toFixed(1)}`,
    );
    await server.close();
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
