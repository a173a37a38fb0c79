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
 * bare requests the server could have answered in the time one snapshot took, amortised).
 * Last line: `bench:api creates_per_s=N p50_create_ms=N p99_ready_ms=N bare_rps=N ratio=N`.
 *
 * Options (flag or env): --vms / BENCH_VMS (1000), --concurrency / BENCH_CONCURRENCY (32),
 * --poll-ms / BENCH_POLL_MS (5), --cpu-prof / BENCH_CPU_PROF=1 (a CPU profile of the server's
 * timed phase, written to ./tmp/bench-profiles/*.cpuprofile).
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signRequest } from '../src/api/protocol/index.ts';
import type { BenchServerReady } from './api-bench-server.ts';

interface Options {
  readonly vms: number;
  readonly concurrency: number;
  readonly pollMs: number;
  readonly cpuProf: boolean;
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
  return {
    vms: num('vms', 'BENCH_VMS', 1000),
    concurrency: Math.max(1, num('concurrency', 'BENCH_CONCURRENCY', 32)),
    pollMs: num('poll-ms', 'BENCH_POLL_MS', 5),
    cpuProf: argv.includes('--cpu-prof') || process.env['BENCH_CPU_PROF'] === '1',
  };
}

/** A GET over a keep-alive agent; returns status and body. */
function get(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startServer(opts: Options): Promise<{
  ready: BenchServerReady;
  stop: () => Promise<void>;
  markCpu: () => Promise<void>;
  serverCpuMs: () => Promise<number>;
}> {
  const profDir = resolve('tmp', 'bench-profiles');
  const child = fork(fileURLToPath(new URL('./api-bench-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', ...(process.env['BENCH_NODE_FLAGS']?.split(' ').filter(Boolean) ?? [])],
    env: {
      ...process.env,
      BENCH_VMS: String(opts.vms),
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
  const markCpu = async (): Promise<void> => {
    await ask('mark', 'marked');
  };
  const serverCpuMs = async (): Promise<number> => (await ask<{ cpuMs: number }>('usage', 'usage')).cpuMs;
  const stop = async (): Promise<void> => {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.send('stop');
    await exited;
    if (opts.cpuProf) console.log(`server CPU profile written to ${profDir}`);
  };
  return { ready, stop, markCpu, serverCpuMs };
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

async function snapshotRun(agent: http.Agent, ready: BenchServerReady, opts: Options): Promise<SnapshotRun> {
  const call = (params: Record<string, string>) =>
    get(
      agent,
      `${ready.apiUrl}/client/api?${signRequest({ ...params, response: 'json' }, ready.apiKey, ready.secretKey)}`,
    );
  const createMs: number[] = [];
  const readyMs: number[] = [];
  let failed = 0;
  let requests = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const vmId = ready.vmIds[next++];
      if (vmId === undefined) return;
      const t0 = performance.now();
      const created = await call({ command: 'createVMSnapshot', virtualmachineid: vmId });
      requests++;
      createMs.push(performance.now() - t0);
      if (created.status !== 200) {
        failed++;
        continue;
      }
      const jobId = (JSON.parse(created.body) as { createvmsnapshotresponse: { jobid: string } })
        .createvmsnapshotresponse.jobid;
      for (;;) {
        if (opts.pollMs > 0) await sleep(opts.pollMs);
        const polled = await call({ command: 'queryAsyncJobResult', jobid: jobId });
        requests++;
        const status = (JSON.parse(polled.body) as { queryasyncjobresultresponse: { jobstatus: number } })
          .queryasyncjobresultresponse.jobstatus;
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

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const { ready, stop, markCpu, serverCpuMs } = await startServer(opts);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  try {
    console.log(
      `server ready: ${ready.vmIds.length} VMs in ${round(ready.setupMs / 1000, 1)} s (setup, untimed)`,
    );
    await markCpu();
    const clientMark = process.cpuUsage();
    const run = await snapshotRun(agent, ready, opts);
    const serverMs = await serverCpuMs();
    const clientUsed = process.cpuUsage(clientMark);
    const clientMs = (clientUsed.user + clientUsed.system) / 1000;
    const bare = await bareRate(agent, ready.bareUrl, opts.concurrency, 3000);
    const create = [...run.createMs].sort((a, b) => a - b);
    const toReady = [...run.readyMs].sort((a, b) => a - b);
    const seconds = run.elapsedMs / 1000;
    const createsPerS = run.readyMs.length / seconds;
    console.log(
      `VMs=${opts.vms} concurrency=${opts.concurrency} poll=${opts.pollMs}ms elapsed=${round(seconds)}s`,
    );
    console.log(`snapshots Ready: ${run.readyMs.length}, failed: ${run.failed}`);
    console.log(`created snapshots/s: ${round(createsPerS, 1)}`);
    console.log(
      `create call ms: p50=${round(percentile(create, 0.5))} p99=${round(percentile(create, 0.99))}`,
    );
    console.log(
      `create-to-Ready ms: p50=${round(percentile(toReady, 0.5))} p99=${round(percentile(toReady, 0.99))}`,
    );
    console.log(`API requests/s (creates + polls): ${round(run.requests / seconds, 1)}`);
    // Where the two vCPUs went during the run: the server's share, the client's, per snapshot.
    console.log(
      `CPU during the run: server ${round((serverMs / run.elapsedMs) * 100, 1)}% of a core ` +
        `(${round(serverMs / Math.max(1, run.readyMs.length), 3)} ms per snapshot), client ` +
        `${round((clientMs / run.elapsedMs) * 100, 1)}% (${round(run.requests / Math.max(1, run.readyMs.length), 1)} requests per snapshot)`,
    );
    console.log(`bare fastify GET requests/s: ${round(bare, 1)}`);
    console.log(`ratio bare_rps / creates_per_s: ${round(bare / createsPerS)}`);
    console.log(
      `bench:api creates_per_s=${round(createsPerS, 1)} p50_create_ms=${round(percentile(create, 0.5))} ` +
        `p99_ready_ms=${round(percentile(toReady, 0.99))} bare_rps=${round(bare, 1)} ratio=${round(bare / createsPerS)}`,
    );
    if (run.failed > 0) process.exitCode = 1;
  } finally {
    agent.destroy();
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
