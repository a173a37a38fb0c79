/**
 * The server side of `npm run bench:api`, run in its own process (so the load generator does not
 * steal its CPU): a seeded App in a temp data dir, on SQLite there or on the database of
 * `BENCH_DATABASE_URL` (PostgreSQL), with the simulator (no added latency), `BENCH_VMS` extra
 * running VMs for the demo account created straight in the database and the simulator, the real API
 * server, and a bare fastify server with one trivial GET route for comparison. It reports the
 * endpoints, keys and VM ids to the parent over IPC, and shuts down when the parent sends `stop`.
 *
 * With `BENCH_JOIN_DIR` (the first server's data dir) it joins an already seeded PostgreSQL database
 * as a further management server instead (its secret key copied, as an operator would), and creates
 * nothing. Every server counts its own SQL statements and CPU time between `mark` and `usage`.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { buildServer } from '../src/api/server.ts';
import { App } from '../src/app/app.ts';
import { loadConfig } from '../src/app/app-config.ts';
import { seed } from '../src/app/seed.ts';
import { createVms } from '../test/helpers/vm-factory.ts';
import { installStatementCounter } from '../test/helpers/sql-statement-counter.ts';

export interface BenchServerReady {
  readonly kind: 'ready';
  readonly apiUrl: string;
  readonly bareUrl: string;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly vmIds: readonly string[];
  readonly setupMs: number;
  readonly dataDir: string;
}

/** What a server used between `mark` and `usage`. */
export interface BenchServerUsage {
  readonly kind: 'usage';
  readonly cpuMs: number;
  readonly statements: number;
  /** The statements in order, when the parent asked for a trace (`trace`). */
  readonly traced: readonly string[];
}

const statements = installStatementCounter();

/** Seeds and fills a fresh store; or joins the seeded one (PostgreSQL) and creates nothing. */
async function openApp(
  dir: string,
  vmCount: number,
): Promise<{ app: App; ready: Omit<BenchServerReady, 'kind' | 'apiUrl' | 'bareUrl' | 'setupMs'> }> {
  const databaseUrl = process.env['BENCH_DATABASE_URL'];
  const joinDir = process.env['BENCH_JOIN_DIR'];
  if (joinDir !== undefined) {
    copyFileSync(join(joinDir, 'secret.key'), join(dir, 'secret.key'));
    chmodSync(join(dir, 'secret.key'), 0o600);
  }
  const app = await App.open({
    config: loadConfig(dir, { plugins: [], ...(databaseUrl === undefined ? {} : { databaseUrl }) }),
    log: pino({ level: 'silent' }),
  });
  if (joinDir !== undefined) {
    await app.start();
    return { app, ready: { apiKey: '', secretKey: '', vmIds: [], dataDir: dir } };
  }
  const seeded = await seed(app);
  await app.start();
  const demo = await app.deps.db
    .selectFrom('accounts')
    .select('id')
    .where('name', '=', 'demo')
    .executeTakeFirstOrThrow();
  const vms = await createVms(
    app,
    demo.id,
    Array.from({ length: vmCount }, (_, i) => ({ displayName: `bench-${i}`, running: true })),
  );
  return {
    app,
    ready: {
      apiKey: seeded.demo.apiKey,
      secretKey: seeded.demo.secretKey,
      vmIds: vms.map((v) => v.id),
      dataDir: dir,
    },
  };
}

async function main(): Promise<void> {
  const vmCount = Number(process.env['BENCH_VMS'] ?? 1000);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-bench-'));
  const { app, ready: opened } = await openApp(dir, vmCount);
  const api = await buildServer(app);
  const apiUrl = await api.listen({ port: 0, host: '127.0.0.1' });
  const bare = Fastify({ logger: false });
  bare.get('/bare', async () => ({ ok: true }));
  const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });
  const ready: BenchServerReady = {
    kind: 'ready',
    apiUrl,
    bareUrl,
    ...opened,
    setupMs: performance.now() - started,
  };
  // Profile only the snapshots (mark to usage): setup and the bare-route phase would drown them.
  const profileDir = process.env['BENCH_CPU_PROF_DIR'];
  const profiler = profileDir === undefined ? undefined : new Session();
  if (profiler !== undefined) {
    profiler.connect();
    await profiler.post('Profiler.enable');
  }
  const saveProfile = async (): Promise<void> => {
    if (profiler === undefined || profileDir === undefined) return;
    const { profile } = await profiler.post('Profiler.stop').catch(() => ({ profile: undefined }));
    if (profile === undefined) return;
    mkdirSync(profileDir, { recursive: true });
    writeFileSync(join(profileDir, `api-bench-${Date.now()}.cpuprofile`), JSON.stringify(profile));
  };
  process.send?.(ready);
  let mark = process.cpuUsage();
  process.on('message', (msg) => {
    if (msg === 'mark' || msg === 'trace') {
      void (async () => {
        await profiler?.post('Profiler.start');
        mark = process.cpuUsage();
        statements.reset();
        statements.trace(msg === 'trace');
        process.send?.({ kind: 'marked' });
      })();
      return;
    }
    if (msg === 'usage') {
      void saveProfile();
      const used = process.cpuUsage(mark);
      const usage: BenchServerUsage = {
        kind: 'usage',
        cpuMs: (used.user + used.system) / 1000,
        statements: statements.count,
        traced: statements.traced,
      };
      process.send?.(usage);
      return;
    }
    if (msg !== 'stop') return;
    void (async () => {
      await saveProfile();
      await api.close();
      await bare.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
