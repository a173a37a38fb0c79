/**
 * The server side of `npm run bench:api`, run in its own process (so the load generator does not
 * steal its CPU): a seeded App on SQLite in a temp data dir, with the in-process simulator (no added
 * latency), `BENCH_VMS` extra running VMs for the demo account created straight in the database and
 * the simulator, the real API server, and a bare fastify server with one trivial GET route for
 * comparison. It reports the endpoints, keys and VM ids to the parent over IPC, and shuts down when
 * the parent sends `stop`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

export interface BenchServerReady {
  readonly kind: 'ready';
  readonly apiUrl: string;
  readonly bareUrl: string;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly vmIds: readonly string[];
  readonly setupMs: number;
}

async function main(): Promise<void> {
  const vmCount = Number(process.env['BENCH_VMS'] ?? 1000);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-bench-'));
  const app = await App.open({
    config: loadConfig(dir, { plugins: [] }),
    log: pino({ level: 'silent' }),
  });
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
  const api = await buildServer(app);
  const apiUrl = await api.listen({ port: 0, host: '127.0.0.1' });
  const bare = Fastify({ logger: false });
  bare.get('/bare', async () => ({ ok: true }));
  const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });
  const ready: BenchServerReady = {
    kind: 'ready',
    apiUrl,
    bareUrl,
    apiKey: seeded.demo.apiKey,
    secretKey: seeded.demo.secretKey,
    vmIds: vms.map((v) => v.id),
    setupMs: performance.now() - started,
  };
  // Profile only the timed part: setup (imports, seeding, VM creation) would drown it.
  const profileDir = process.env['BENCH_CPU_PROF_DIR'];
  const profiler = profileDir === undefined ? undefined : new Session();
  if (profiler !== undefined) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  process.send?.(ready);
  let mark = process.cpuUsage();
  process.on('message', (msg) => {
    if (msg === 'mark') {
      mark = process.cpuUsage();
      process.send?.({ kind: 'marked' });
      return;
    }
    if (msg === 'usage') {
      const used = process.cpuUsage(mark);
      process.send?.({ kind: 'usage', cpuMs: (used.user + used.system) / 1000 });
      return;
    }
    if (msg !== 'stop') return;
    void (async () => {
      if (profiler !== undefined && profileDir !== undefined) {
        const { profile } = await profiler.post('Profiler.stop');
        mkdirSync(profileDir, { recursive: true });
        writeFileSync(join(profileDir, `api-bench-${Date.now()}.cpuprofile`), JSON.stringify(profile));
      }
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
