/**
 * Control-plane benchmark (`npm run bench:api`): how fast the CloudStack-compatible API takes VM
 * snapshots, end to end, through signed HTTP requests.
 *
 * The server runs in a child process (bench/api-bench-server.ts): SQLite in a temp data dir, the
 * simulator with no added latency, N running VMs created before timing. This process is the client:
 * C workers, each taking the next VM, sending a signed `createVMSnapshot`, then polling
 * `queryAsyncJobResult` every `pollMs` until the job is final; keep-alive connections, at most C.
 * Then the same client at the same concurrency against a bare fastify GET route in the same server
 * process, for the ceiling of HTTP alone.
 *
 * Printed: created snapshots per second, p50/p99 of the create call and of create-to-Ready, the API
 * request rate (creates + polls), the bare rate, and ratio = bare_rps / creates_per_s (how many
 * bare requests the server could have answered in the time one snapshot took, amortised); the
 * servers' CPU time (process.cpuUsage) and SQL statements (counted at the driver) per snapshot.
 * Last line: `bench:api engine=E servers=N creates_per_s=N p50_create_ms=N p99_ready_ms=N
 * bare_rps=N ratio=N cpu_ms_per_snapshot=N statements_per_snapshot=N`.
 *
 * Options (flag or env): --vms / BENCH_VMS (1000), --concurrency / BENCH_CONCURRENCY (32),
 * --poll-ms / BENCH_POLL_MS (5), --cpu-prof / BENCH_CPU_PROF=1 (a CPU profile of the server's
 * timed phase, written to ./tmp/bench-profiles/*.cpuprofile);
 * --database sqlite|pg (BENCH_DATABASE; pg: a fresh database in VMSNAP_TEST_PG_URL or --pg-url,
 * dropped after the run), --servers N (BENCH_SERVERS; pg only: the first server seeds, the others
 * join; snapshot i is created and polled through server i mod N), --table (SQLite with one server,
 * then PostgreSQL with 1, 2 and 3, and a markdown table of the four runs), --trace (every SQL
 * statement of one snapshot: its create call and job, then a poll of the finished job).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { signRequest } from '../src/api/protocol/index.ts';
import type { BenchServerReady, BenchServerUsage } from './api-bench-server.ts';

type Engine = 'sqlite' | 'pg';

interface Options {
  readonly vms: number;
  readonly concurrency: number;
  readonly pollMs: number;
  readonly cpuProf: boolean;
  readonly servers: number;
  readonly database: Engine;
  readonly pgUrl: string | undefined;
  /** Run SQLite with one server, then PostgreSQL with 1, 2 and 3, and print the table. */
  readonly table: boolean;
  /** Print every SQL statement of one snapshot (its create call, its job, a final poll). */
  readonly trace: boolean;
}

function options(argv: readonly string[]): Options {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const num = (name: string, env: string, dflt: number): number => {
    const n = Number(flag(name) ?? process.env[env] ?? dflt);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const database = flag('database') ?? process.env['BENCH_DATABASE'] ?? 'sqlite';
  if (database !== 'sqlite' && database !== 'pg') throw new Error('--database must be sqlite or pg');
  const servers = Math.max(1, Math.floor(num('servers', 'BENCH_SERVERS', 1)));
  if (servers > 1 && database === 'sqlite')
    throw new Error('--servers above 1 needs --database pg (one server per SQLite data dir)');
  return {
    vms: num('vms', 'BENCH_VMS', 1000),
    concurrency: Math.max(1, num('concurrency', 'BENCH_CONCURRENCY', 32)),
    pollMs: num('poll-ms', 'BENCH_POLL_MS', 5),
    cpuProf: argv.includes('--cpu-prof') || process.env['BENCH_CPU_PROF'] === '1',
    servers,
    database,
    pgUrl: flag('pg-url') ?? process.env['VMSNAP_TEST_PG_URL'],
    table: argv.includes('--table'),
    trace: argv.includes('--trace'),
  };
}

/**
 * A GET over a keep-alive agent; returns status and body. A reused connection that the server closed
 * as the request left is retried once on a new one (node's documented keep-alive race: the server
 * never read that request).
 */
function get(agent: http.Agent, url: string, retried = false): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET')
        get(agent, url, true).then(resolvePromise, reject);
      else reject(err);
    });
  });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface BenchServer {
  readonly ready: BenchServerReady;
  stop(): Promise<void>;
  /** Starts counting CPU and statements (and with `trace`, recording each statement). */
  mark(trace?: boolean): Promise<void>;
  usage(): Promise<BenchServerUsage>;
}

async function startServer(
  opts: Options,
  database: { readonly url?: string; readonly joinDir?: string },
): Promise<BenchServer> {
  const profDir = resolve('tmp', 'bench-profiles');
  const child = fork(fileURLToPath(new URL('./api-bench-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', ...(process.env['BENCH_NODE_FLAGS']?.split(' ').filter(Boolean) ?? [])],
    env: {
      ...process.env,
      BENCH_VMS: String(opts.vms),
      ...(database.url === undefined ? {} : { BENCH_DATABASE_URL: database.url }),
      ...(database.joinDir === undefined ? {} : { BENCH_JOIN_DIR: database.joinDir }),
      ...(opts.cpuProf ? { BENCH_CPU_PROF_DIR: profDir } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<BenchServerReady>((resolvePromise, reject) => {
    child.once('message', (m) => resolvePromise(m as BenchServerReady));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const ask = <T>(msg: string, kind: string): Promise<T> =>
    new Promise<T>((resolvePromise) => {
      const onMessage = (m: unknown): void => {
        if ((m as { kind?: string }).kind !== kind) return;
        child.off('message', onMessage);
        resolvePromise(m as T);
      };
      child.on('message', onMessage);
      child.send(msg);
    });
  const mark = async (trace = false): Promise<void> => {
    await ask(trace ? 'trace' : 'mark', 'marked');
  };
  const usage = (): Promise<BenchServerUsage> => ask<BenchServerUsage>('usage', 'usage');
  const stop = async (): Promise<void> => {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.send('stop');
    await exited;
    if (opts.cpuProf) console.log(`server CPU profile written to ${profDir}`);
  };
  return { ready, stop, mark, usage };
}

/** Requests per second of the bare route, same client and concurrency. */
async function bareRate(
  agent: http.Agent,
  url: string,
  concurrency: number,
  durationMs: number,
): Promise<number> {
  const run = async (untilMs: number): Promise<number> => {
    let done = 0;
    const worker = async (): Promise<void> => {
      while (performance.now() < untilMs) {
        const res = await get(agent, `${url}/bare`);
        if (res.status !== 200) throw new Error(`bare route answered ${res.status}`);
        done++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return done;
  };
  await run(performance.now() + 300); // warm-up: JIT and connections
  const start = performance.now();
  const n = await run(start + durationMs);
  return n / ((performance.now() - start) / 1000);
}

interface SnapshotRun {
  readonly createMs: number[];
  readonly readyMs: number[];
  readonly failed: number;
  readonly requests: number;
  readonly elapsedMs: number;
}

/** A signed API call to one server, as the demo user. */
function caller(agent: http.Agent, keys: BenchServerReady) {
  return (apiUrl: string, params: Record<string, string>) =>
    get(
      agent,
      `${apiUrl}/client/api?${signRequest({ ...params, response: 'json' }, keys.apiKey, keys.secretKey)}`,
    );
}

/** The job's status as queryAsyncJobResult reports it: 0 pending, 1 done, 2 failed. */
function jobStatus(body: string): number {
  return (JSON.parse(body) as { queryasyncjobresultresponse: { jobstatus: number } })
    .queryasyncjobresultresponse.jobstatus;
}

function jobIdOf(body: string): string {
  return (JSON.parse(body) as { createvmsnapshotresponse: { jobid: string } }).createvmsnapshotresponse.jobid;
}

/** Snapshot i is created through server i mod N and polled through the same server. */
async function snapshotRun(
  agent: http.Agent,
  keys: BenchServerReady,
  apiUrls: readonly string[],
  opts: Options,
): Promise<SnapshotRun> {
  const call = caller(agent, keys);
  const createMs: number[] = [];
  const readyMs: number[] = [];
  let failed = 0;
  let requests = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const vmId = keys.vmIds[index];
      if (vmId === undefined) return;
      const apiUrl = apiUrls[index % apiUrls.length]!;
      const t0 = performance.now();
      const created = await call(apiUrl, { command: 'createVMSnapshot', virtualmachineid: vmId });
      requests++;
      createMs.push(performance.now() - t0);
      if (created.status !== 200) {
        failed++;
        continue;
      }
      const jobId = jobIdOf(created.body);
      for (;;) {
        if (opts.pollMs > 0) await sleep(opts.pollMs);
        const polled = await call(apiUrl, { command: 'queryAsyncJobResult', jobid: jobId });
        requests++;
        const status = jobStatus(polled.body);
        if (status === 0) continue;
        if (status === 1) readyMs.push(performance.now() - t0);
        else failed++;
        break;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { createMs, readyMs, failed, requests, elapsedMs: performance.now() - start };
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** A fresh PostgreSQL database for one run, dropped after it. */
async function freshPgDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `vmsnap_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (text: string): Promise<void> => {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** The servers of one run: the first seeds the store, the others join it (PostgreSQL only). */
async function startServers(opts: Options): Promise<{ servers: BenchServer[]; close: () => Promise<void> }> {
  let db: { url: string; drop: () => Promise<void> } | undefined;
  if (opts.database === 'pg') {
    if (opts.pgUrl === undefined || opts.pgUrl === '')
      throw new Error('--database pg needs VMSNAP_TEST_PG_URL or --pg-url');
    db = await freshPgDatabase(opts.pgUrl);
  }
  const servers: BenchServer[] = [];
  const close = async (): Promise<void> => {
    for (const s of servers.reverse()) await s.stop();
    await db?.drop();
  };
  try {
    const first = await startServer(opts, { ...(db === undefined ? {} : { url: db.url }) });
    servers.push(first);
    for (let i = 1; i < opts.servers; i++)
      servers.push(await startServer(opts, { url: db!.url, joinDir: first.ready.dataDir }));
  } catch (err) {
    await close();
    throw err;
  }
  return { servers, close };
}

export interface RunFigures {
  readonly engine: Engine;
  readonly servers: number;
  readonly createsPerS: number;
  readonly p50CreateMs: number;
  readonly p99ReadyMs: number;
  readonly bareRps: number;
  readonly ratio: number;
  readonly cpuMsPerSnapshot: number;
  readonly statementsPerSnapshot: number;
  readonly requestsPerSnapshot: number;
  readonly failed: number;
}

async function runOnce(opts: Options): Promise<RunFigures> {
  const { servers, close } = await startServers(opts);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency * opts.servers });
  try {
    const keys = servers[0]!.ready;
    console.log(
      `${opts.database} × ${opts.servers} server(s) ready: ${keys.vmIds.length} VMs in ` +
        `${round(keys.setupMs / 1000, 1)} s (setup, untimed)`,
    );
    await Promise.all(servers.map((s) => s.mark()));
    const clientMark = process.cpuUsage();
    const run = await snapshotRun(
      agent,
      keys,
      servers.map((s) => s.ready.apiUrl),
      opts,
    );
    const usages = await Promise.all(servers.map((s) => s.usage()));
    const serverMs = usages.reduce((sum, u) => sum + u.cpuMs, 0);
    const statementCount = usages.reduce((sum, u) => sum + u.statements, 0);
    const clientUsed = process.cpuUsage(clientMark);
    const clientMs = (clientUsed.user + clientUsed.system) / 1000;
    const bare = await bareRate(agent, keys.bareUrl, opts.concurrency, 3000);
    const create = [...run.createMs].sort((a, b) => a - b);
    const toReady = [...run.readyMs].sort((a, b) => a - b);
    const seconds = run.elapsedMs / 1000;
    const done = Math.max(1, run.readyMs.length);
    const createsPerS = run.readyMs.length / seconds;
    const figures: RunFigures = {
      engine: opts.database,
      servers: opts.servers,
      createsPerS: round(createsPerS, 1),
      p50CreateMs: round(percentile(create, 0.5)),
      p99ReadyMs: round(percentile(toReady, 0.99)),
      bareRps: round(bare, 1),
      ratio: round(bare / createsPerS),
      cpuMsPerSnapshot: round(serverMs / done, 3),
      statementsPerSnapshot: round(statementCount / done, 1),
      requestsPerSnapshot: round(run.requests / done, 1),
      failed: run.failed,
    };
    console.log(
      `VMs=${opts.vms} concurrency=${opts.concurrency} poll=${opts.pollMs}ms elapsed=${round(seconds)}s`,
    );
    console.log(`snapshots Ready: ${run.readyMs.length}, failed: ${run.failed}`);
    console.log(`created snapshots/s: ${figures.createsPerS}`);
    console.log(`create call ms: p50=${figures.p50CreateMs} p99=${round(percentile(create, 0.99))}`);
    console.log(`create-to-Ready ms: p50=${round(percentile(toReady, 0.5))} p99=${figures.p99ReadyMs}`);
    console.log(`API requests/s (creates + polls): ${round(run.requests / seconds, 1)}`);
    // Where the CPUs went during the run: the servers' share, the client's, per snapshot.
    console.log(
      `CPU during the run: server(s) ${round((serverMs / run.elapsedMs) * 100, 1)}% of a core ` +
        `(${figures.cpuMsPerSnapshot} ms per snapshot), client ` +
        `${round((clientMs / run.elapsedMs) * 100, 1)}% (${figures.requestsPerSnapshot} requests per snapshot); ` +
        `${figures.statementsPerSnapshot} SQL statements per snapshot (create call, job and polls)`,
    );
    console.log(`bare fastify GET requests/s (one server): ${figures.bareRps}`);
    console.log(`ratio bare_rps / creates_per_s: ${figures.ratio}`);
    console.log(
      `bench:api engine=${figures.engine} servers=${figures.servers} creates_per_s=${figures.createsPerS} ` +
        `p50_create_ms=${figures.p50CreateMs} p99_ready_ms=${figures.p99ReadyMs} bare_rps=${figures.bareRps} ` +
        `ratio=${figures.ratio} cpu_ms_per_snapshot=${figures.cpuMsPerSnapshot} ` +
        `statements_per_snapshot=${figures.statementsPerSnapshot}`,
    );
    return figures;
  } finally {
    agent.destroy();
    await close();
  }
}

/** Every statement of one snapshot, phase by phase, on one server (the profile's counts). */
async function traceOne(opts: Options): Promise<void> {
  const { servers, close } = await startServers({ ...opts, vms: 2, servers: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const server = servers[0]!;
  const call = caller(agent, server.ready);
  const apiUrl = server.ready.apiUrl;
  const phase = async (title: string, work: () => Promise<unknown>): Promise<void> => {
    await server.mark(true);
    await work();
    const { traced, cpuMs } = await server.usage();
    console.log(`-- ${title}: ${traced.length} statements, server CPU ${round(cpuMs, 2)} ms`);
    for (const text of traced) console.log(`   ${text}`);
  };
  try {
    // The first VM warms up (JIT, statement caches); the second is traced.
    for (const vmId of server.ready.vmIds) {
      const traced = vmId !== server.ready.vmIds[0];
      let jobId = '';
      const create = async (): Promise<void> => {
        jobId = jobIdOf((await call(apiUrl, { command: 'createVMSnapshot', virtualmachineid: vmId })).body);
      };
      const poll = (): Promise<number> =>
        call(apiUrl, { command: 'queryAsyncJobResult', jobid: jobId }).then((r) => jobStatus(r.body));
      const untilFinal = async (): Promise<void> => {
        for (let i = 0; i < 400 && (await poll()) === 0; i++) await sleep(5);
      };
      if (!traced) {
        await create();
        await untilFinal();
        continue;
      }
      // The create call and its job, then one poll while pending (jobs are fast: read at once).
      await phase('create call + job (+ the polls until final)', async () => {
        await create();
        await untilFinal();
      });
      await phase('one poll of the finished job', poll);
    }
  } finally {
    agent.destroy();
    await close();
  }
}

function tableOf(rows: readonly RunFigures[]): string {
  const head =
    '| engine | servers | creates/s | p50 create call ms | p99 create-to-Ready ms | server CPU ms / snapshot | SQL statements / snapshot | requests / snapshot | bare rps | ratio |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    (r) =>
      `| ${r.engine === 'pg' ? 'PostgreSQL' : 'SQLite'} | ${r.servers} | ${r.createsPerS} | ${r.p50CreateMs} | ` +
      `${r.p99ReadyMs} | ${r.cpuMsPerSnapshot} | ${r.statementsPerSnapshot} | ${r.requestsPerSnapshot} | ${r.bareRps} | ${r.ratio} |`,
  );
  return [head, ...lines].join('\n');
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  if (opts.trace) return traceOne(opts);
  if (!opts.table) {
    const figures = await runOnce(opts);
    if (figures.failed > 0) process.exitCode = 1;
    return;
  }
  const runs: Options[] = [
    { ...opts, database: 'sqlite', servers: 1 },
    ...[1, 2, 3].map((servers) => ({ ...opts, database: 'pg' as const, servers })),
  ];
  const rows: RunFigures[] = [];
  for (const run of runs) rows.push(await runOnce(run));
  console.log(tableOf(rows));
  if (rows.some((r) => r.failed > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
