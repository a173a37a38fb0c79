/**
 * Store-scale benchmark (`npm run bench:scale`): issue 15, item 2. The seeded zone plus --vms VMs
 * (100,000) and --snaps-per-vm snapshot rows each (10, as trees: chains with a branch every fourth
 * snapshot), written straight into the store in bulk, on SQLite and on PostgreSQL. Measured through
 * the real HTTP API (buildServer, signed requests), before the fill (empty store) and after it:
 *  - listVMSnapshot, one page of 500: an admin with listall=true, and one tenant (its own rows);
 *  - one VM's snapshots (listVMSnapshot virtualmachineid=…);
 *  - create throughput: --creates createVMSnapshot jobs at concurrency 32, calls and polls;
 *  - after the fill, revert and delete on a VM with 1 and one with 100 snapshots (job run time,
 *    started to completed, read from the job's row; and the API round trip until the job is final);
 *  - the process's RSS after start, after the fill, and the peak while the lists ran (server and
 *    client share this process; the client holds only the responses in flight);
 *  - /health latency while 8 admin listall pages run at once;
 *  - the query plans (EXPLAIN) of the hot lists, on each engine.
 * One line per engine: `bench:scale engine=… rows=… list_p50_ms=… tenant_list_p50_ms=…
 * vm_list_p50_ms=… create_ratio=… …`.
 *
 * Options: --vms N (100000), --snaps-per-vm N (10), --accounts N (100), --creates N (300),
 * --calls N (50 per list measurement), --engine sqlite|postgres|both (both), --pg-url URL
 * (default VMSNAP_TEST_PG_URL; a throwaway database is created in it and dropped after).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompiledQuery, type Insertable } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { buildServer } from '../src/api/server.ts';
import { App } from '../src/app/app.ts';
import { loadConfig } from '../src/app/app-config.ts';
import { seed } from '../src/app/seed.ts';
import { LISTED_BY_DEFAULT } from '../src/core/vm-snapshot-state.ts';
import { AccountStore } from '../src/store/account-store.ts';
import type { Db } from '../src/store/database.ts';
import type { Database } from '../src/store/schema.ts';
import { snapshotPageStatements, type SnapshotListFilter } from '../src/store/vm-snapshot-list-store.ts';
import { TestApiClient } from '../test/helpers/api-client.ts';
import { createVms, firstZone } from '../test/helpers/vm-factory.ts';
import { installSqlProfile, startSqlProfile, takeSqlProfile } from './sql-profile.ts';

interface Options {
  readonly vms: number;
  readonly snapsPerVm: number;
  readonly accounts: number;
  readonly creates: number;
  readonly calls: number;
  readonly engines: readonly ('sqlite' | 'postgres')[];
  readonly pgUrl: string | undefined;
  /** SQLite: time every statement during the two create rounds and print the top ones. */
  readonly profileSql: boolean;
  /** SQLite: the page cache (KiB) for the whole run instead of the store's own (to compare). */
  readonly cacheKib: number | undefined;
}

function options(argv: readonly string[]): Options {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const num = (name: string, dflt: number): number => {
    const n = Number(flag(name) ?? dflt);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const engine = flag('engine') ?? 'both';
  if (!['sqlite', 'postgres', 'both'].includes(engine)) throw new Error('--engine: sqlite, postgres or both');
  return {
    vms: num('vms', 100_000),
    snapsPerVm: num('snaps-per-vm', 10),
    accounts: Math.max(1, num('accounts', 100)),
    creates: Math.max(1, num('creates', 300)),
    calls: Math.max(1, num('calls', 50)),
    engines: engine === 'both' ? ['sqlite', 'postgres'] : [engine as 'sqlite' | 'postgres'],
    pgUrl: flag('pg-url') ?? process.env['VMSNAP_TEST_PG_URL'],
    profileSql: argv.includes('--profile-sql'),
    cacheKib: flag('cache-kib') === undefined ? undefined : num('cache-kib', SQLITE_DEFAULT_CACHE_KIB),
  };
}

// ---- figures ---------------------------------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const ms = (n: number): string => n.toFixed(2);
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

/** RSS sampled every 20 ms while `work` runs: the peak. */
async function peakRss<T>(work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, process.memoryUsage().rss) };
  } finally {
    clearInterval(timer);
  }
}

async function timeCalls(calls: number, work: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await work();
    times.push(performance.now() - t0);
  }
  return times;
}

// ---- the engine under test --------------------------------------------------------------------------

/**
 * A signing client that retries a request once when the connection was reset: after a long fill
 * the server has closed the idle keep-alive connections, and the first reuse of one fails.
 */
class BenchClient extends TestApiClient {
  override async payload(
    command: string,
    params: Record<string, string | number | boolean> = {},
  ): Promise<Record<string, unknown>> {
    try {
      return await super.payload(command, params);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      return super.payload(command, params);
    }
  }
}

interface Rig {
  readonly app: App;
  readonly url: string;
  readonly admin: TestApiClient;
  readonly demo: TestApiClient;
  readonly demoAccountId: string;
  close(): Promise<void>;
}

async function openRig(engine: 'sqlite' | 'postgres', pgUrl: string | undefined): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-scale-'));
  const temp = engine === 'postgres' ? await createPgDatabase(pgUrl) : undefined;
  const app = await App.open({
    config: loadConfig(dir, { plugins: [], ...(temp !== undefined ? { databaseUrl: temp.url } : {}) }),
    log: pino({ level: 'silent' }),
  });
  const seeded = await seed(app);
  await app.start();
  const server = await buildServer(app);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  const demo = await new AccountStore(app.deps.db).findByApiKey(seeded.demo.apiKey);
  if (demo === undefined) throw new Error('seeded demo user missing');
  return {
    app,
    url,
    admin: new BenchClient(url, seeded.admin.apiKey, seeded.admin.secretKey),
    demo: new BenchClient(url, seeded.demo.apiKey, seeded.demo.secretKey),
    demoAccountId: demo.account.id,
    async close() {
      await server.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
      await temp?.drop();
    },
  };
}

async function createPgDatabase(pgUrl: string | undefined): Promise<{ url: string; drop(): Promise<void> }> {
  if (pgUrl === undefined || pgUrl === '') throw new Error('PostgreSQL: set VMSNAP_TEST_PG_URL or --pg-url');
  const name = `vmsnap_scale_${randomBytes(6).toString('hex')}`;
  const run = async (statement: string): Promise<void> => {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      await c.query(statement);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

// ---- the fill ---------------------------------------------------------------------------------------

const ROWS_PER_INSERT = 1000;
/** SQLite's default page cache (2 MiB), which the store keeps: the bench restores it after the fill. */
const SQLITE_DEFAULT_CACHE_KIB = 2000;

/**
 * `vms` VMs spread over `accountIds`, one ROOT volume each, and `perVm` Ready snapshots each (a
 * chain, with every fourth snapshot branching from its grandparent; the last is current), each with
 * its volume record: multi-row inserts, one transaction per 1,000 VMs.
 */
export async function fill(
  db: Db,
  opts: { vms: number; perVm: number; accountIds: readonly string[]; zoneId: string; poolId: string },
): Promise<void> {
  // In the past: the API's own snapshots stay the newest.
  const start = Date.now() - (opts.vms * opts.perVm + 10) * 1000;
  for (let first = 0; first < opts.vms; first += ROWS_PER_INSERT) {
    const count = Math.min(ROWS_PER_INSERT, opts.vms - first);
    const batch = Array.from({ length: count }, (_, i) =>
      fillVm(first + i, start, opts, opts.accountIds[(first + i) % opts.accountIds.length]!),
    );
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('vms')
        .values(batch.map((b) => b.vm))
        .execute();
      await trx
        .insertInto('volumes')
        .values(batch.map((b) => b.volume))
        .execute();
      const snaps = batch.flatMap((b) => b.snapshots);
      const records = batch.flatMap((b) => b.records);
      for (let i = 0; i < snaps.length; i += ROWS_PER_INSERT) {
        await trx
          .insertInto('vm_snapshots')
          .values(snaps.slice(i, i + ROWS_PER_INSERT))
          .execute();
        await trx
          .insertInto('vm_snapshot_volumes')
          .values(records.slice(i, i + ROWS_PER_INSERT))
          .execute();
      }
    });
  }
}

type Insert<T extends keyof Database> = Insertable<Database[T]>;

interface FillVm {
  readonly vm: Insert<'vms'>;
  readonly volume: Insert<'volumes'>;
  readonly snapshots: Insert<'vm_snapshots'>[];
  readonly records: Insert<'vm_snapshot_volumes'>[];
}

function fillVm(
  n: number,
  start: number,
  opts: { perVm: number; zoneId: string; poolId: string },
  accountId: string,
): FillVm {
  const vmId = randomUUID();
  const volumeId = randomUUID();
  const instanceName = `i-7-${n}-SCALE`;
  const created = start + n * opts.perVm * 1000;
  const snapshots: Insert<'vm_snapshots'>[] = [];
  const records: Insert<'vm_snapshot_volumes'>[] = [];
  const ids: string[] = [];
  for (let k = 0; k < opts.perVm; k++) {
    const id = randomUUID();
    ids.push(id);
    const parent = k === 0 ? null : k % 4 === 3 ? ids[k - 2]! : ids[k - 1]!;
    const at = created + (k + 1) * 1000;
    const name = `${instanceName}_VS_${k}`;
    snapshots.push({
      id,
      vm_id: vmId,
      account_id: accountId,
      name,
      display_name: name,
      description: '',
      type: 'Disk',
      state: 'Ready',
      parent_id: parent,
      current: k === opts.perVm - 1 ? 1 : 0,
      strategy: 'hypervisor',
      quiesce: 0,
      options: '{}',
      details: '{"consistency":"crash-consistent"}',
      update_count: 2,
      created: at,
      updated: at,
      removed: null,
    });
    records.push({
      snapshot_id: id,
      volume_id: volumeId,
      driver: 'hypervisor',
      path: `/sim/pool/${volumeId}.qcow2`,
      size: 20 * 2 ** 30,
      ref: name,
    });
  }
  return {
    vm: {
      id: vmId,
      instance_name: instanceName,
      display_name: `scale-${n}`,
      state: 'Stopped',
      host_id: null,
      last_host_id: null,
      account_id: accountId,
      zone_id: opts.zoneId,
      hypervisor: 'Simulator',
      memory_mb: 1024,
      cpus: 1,
      update_count: 0,
      created,
      removed: null,
    },
    volume: {
      id: volumeId,
      vm_id: vmId,
      name: `ROOT-${n}`,
      type: 'ROOT',
      pool_id: opts.poolId,
      format: 'QCOW2',
      path: `/sim/pool/${volumeId}.qcow2`,
      size: 20 * 2 ** 30,
      device_id: 0,
      state: 'Ready',
      created,
      removed: null,
    },
    snapshots,
    records,
  };
}

// ---- API work ---------------------------------------------------------------------------------------

const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));

/** Waits for a job to be final (polling every 2 ms, at most 60 s); returns its status. */
async function waitJob(client: TestApiClient, jobId: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const p = await client.payload('queryAsyncJobResult', { jobid: jobId });
    const status = Number(p['jobstatus']);
    if (status !== 0) return status;
    await sleep(2);
  }
  throw new Error(`job ${jobId} still pending after 60 s`);
}

async function runJob(
  client: TestApiClient,
  command: string,
  params: Record<string, string>,
): Promise<string> {
  const p = await client.payload(command, params);
  const jobId = String(p['jobid']);
  const status = await waitJob(client, jobId);
  if (status !== 1) throw new Error(`${command} job ${jobId} failed (status ${status})`);
  return jobId;
}

interface CreateRound {
  /** Completed creates per second. */
  readonly perSecond: number;
  /**
   * Process CPU time (user + system, server and client together) per create: on a loaded machine
   * a steadier comparison of the two rounds than the wall-clock rate.
   */
  readonly cpuMsPerCreate: number;
}

/** Creates one snapshot of each VM, `concurrency` at a time. */
async function createThroughput(
  client: TestApiClient,
  vmIds: readonly string[],
  concurrency = 32,
): Promise<CreateRound> {
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const worker = async (): Promise<void> => {
    while (next < vmIds.length) {
      const vmId = vmIds[next++]!;
      await runJob(client, 'createVMSnapshot', { virtualmachineid: vmId });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const cpu = process.cpuUsage(cpu0);
  return {
    perSecond: vmIds.length / ((performance.now() - t0) / 1000),
    cpuMsPerCreate: (cpu.user + cpu.system) / 1000 / vmIds.length,
  };
}

/** The job's own run time (started to completed), from its row. */
async function jobRunMs(db: Db, jobId: string): Promise<number> {
  const row = await db
    .selectFrom('async_jobs')
    .select(['started', 'completed'])
    .where('id', '=', jobId)
    .executeTakeFirstOrThrow();
  return Number(row.completed) - Number(row.started);
}

async function snapshotIdsOf(client: TestApiClient, vmId: string): Promise<string[]> {
  const p = await client.payload('listVMSnapshot', { virtualmachineid: vmId, pagesize: '500', page: '1' });
  const items = Array.isArray(p['vmSnapshot']) ? (p['vmSnapshot'] as { id: string }[]) : [];
  return items.map((s) => s.id);
}

interface OpCost {
  readonly revertRunMs: number;
  readonly revertApiMs: number;
  readonly deleteRunMs: number;
  readonly deleteApiMs: number;
}

/** Revert to the VM's oldest snapshot, and delete a fresh newest one (re-created untimed), `n` times. */
async function revertAndDelete(rig: Rig, vmId: string, n: number): Promise<OpCost> {
  const ids = await snapshotIdsOf(rig.demo, vmId);
  const oldest = ids[ids.length - 1]!;
  const revert = { run: [] as number[], api: [] as number[] };
  const del = { run: [] as number[], api: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    const rj = await runJob(rig.demo, 'revertToVMSnapshot', { vmsnapshotid: oldest });
    revert.api.push(performance.now() - t0);
    revert.run.push(await jobRunMs(rig.app.deps.db, rj));
    const cj = await runJob(rig.demo, 'createVMSnapshot', { virtualmachineid: vmId });
    const created = await rig.app.deps.db
      .selectFrom('async_jobs')
      .select('instance_id')
      .where('id', '=', cj)
      .executeTakeFirstOrThrow();
    t0 = performance.now();
    const dj = await runJob(rig.demo, 'deleteVMSnapshot', { vmsnapshotid: String(created.instance_id) });
    del.api.push(performance.now() - t0);
    del.run.push(await jobRunMs(rig.app.deps.db, dj));
  }
  return {
    revertRunMs: percentile(revert.run, 0.5),
    revertApiMs: percentile(revert.api, 0.5),
    deleteRunMs: percentile(del.run, 0.5),
    deleteApiMs: percentile(del.api, 0.5),
  };
}

interface ListFigures {
  readonly adminP50: number;
  readonly tenantP50: number;
  readonly vmP50: number;
  readonly adminCount: number;
  readonly tenantCount: number;
}

async function listFigures(
  rig: Rig,
  tenant: TestApiClient,
  vmId: string,
  calls: number,
): Promise<ListFigures> {
  const page = { pagesize: '500', page: '1' };
  const count = async (client: TestApiClient, params: Record<string, string>): Promise<number> =>
    Number((await client.payload('listVMSnapshot', params))['count'] ?? 0);
  const admin = { listall: 'true', ...page };
  const adminTimes = await timeCalls(calls, () => rig.admin.payload('listVMSnapshot', admin));
  const tenantTimes = await timeCalls(calls, () => tenant.payload('listVMSnapshot', page));
  const vmTimes = await timeCalls(calls, () =>
    rig.demo.payload('listVMSnapshot', { virtualmachineid: vmId, ...page }),
  );
  return {
    adminP50: percentile(adminTimes, 0.5),
    tenantP50: percentile(tenantTimes, 0.5),
    vmP50: percentile(vmTimes, 0.5),
    adminCount: await count(rig.admin, admin),
    tenantCount: await count(tenant, page),
  };
}

/** /health round trips while 8 admin listall pages run at once: the longest. */
async function healthDuringLists(rig: Rig): Promise<number> {
  let done = false;
  const lists = Promise.all(
    Array.from({ length: 8 }, () =>
      rig.admin.payload('listVMSnapshot', { listall: 'true', pagesize: '500', page: '1' }),
    ),
  ).finally(() => {
    done = true;
  });
  let worst = 0;
  while (!done) {
    const t0 = performance.now();
    await fetch(`${rig.url}/health`).then((r) => r.text());
    worst = Math.max(worst, performance.now() - t0);
  }
  await lists;
  return worst;
}

// ---- query plans ------------------------------------------------------------------------------------

async function plans(
  db: Db,
  engine: 'sqlite' | 'postgres',
  filters: Record<string, SnapshotListFilter>,
): Promise<string[]> {
  const out: string[] = [];
  const explain = engine === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
  for (const [label, filter] of Object.entries(filters)) {
    const statements = snapshotPageStatements(db, filter, { offset: 0, limit: 500 });
    for (const [part, q] of Object.entries(statements)) {
      const res = await db.executeQuery<Record<string, unknown>>(
        CompiledQuery.raw(explain + q.sql, [...q.parameters]),
      );
      const lines = res.rows.map((r) => String(r['detail'] ?? r['QUERY PLAN']));
      out.push(`-- ${engine}: ${label} (${part})`, ...lines.map((l) => `   ${l}`));
    }
  }
  return out;
}

/** `work`, with its SQL statements timed and the top 12 printed when --profile-sql is given. */
async function profiled<T>(opts: Options, label: string, work: () => Promise<T>): Promise<T> {
  if (!opts.profileSql) return work();
  startSqlProfile();
  const result = await work();
  const lines = takeSqlProfile();
  const total = lines.reduce((sum, l) => sum + l.totalMs, 0);
  const cpu = lines.reduce((sum, l) => sum + l.cpuMs, 0);
  const calls = lines.reduce((sum, l) => sum + l.calls, 0);
  console.log(`-- SQL during ${label}: ${calls} statements, ${ms(total)} ms wall, ${ms(cpu)} ms CPU`);
  for (const l of lines.slice(0, 12)) {
    const text = l.sql.replace(/\s+/g, ' ').slice(0, 160);
    console.log(
      `   ${ms(l.totalMs).padStart(9)} ms ${ms(l.cpuMs).padStart(8)} ms CPU ${String(l.calls).padStart(6)} calls ${String(l.rows).padStart(7)} rows  ${text}`,
    );
  }
  return result;
}

// ---- one engine -------------------------------------------------------------------------------------

async function runEngine(engine: 'sqlite' | 'postgres', opts: Options): Promise<string> {
  const rig = await openRig(engine, opts.pgUrl);
  try {
    const { db } = rig.app.deps;
    await rig.app.deps.settings.set('vmsnapshot.max', '1000');
    if (engine === 'sqlite' && opts.cacheKib !== undefined) {
      await db.executeQuery(CompiledQuery.raw(`PRAGMA cache_size = -${opts.cacheKib}`));
    }
    const rssStart = process.memoryUsage().rss;
    // VMs for the API's own work: two create rounds, and a VM with 1 and one with 100 snapshots.
    const made = await createVms(
      rig.app,
      rig.demoAccountId,
      // Stopped for the last two: a disk-only snapshot of a running VM cannot be reverted to.
      Array.from({ length: 2 * opts.creates + 2 }, (_, i) => ({
        displayName: `ops-${i}`,
        running: i < 2 * opts.creates,
      })),
    );
    const ids = made.map((m) => m.id);
    const roundEmpty = ids.slice(0, opts.creates);
    const roundFull = ids.slice(opts.creates, 2 * opts.creates);
    const vmOne = ids[2 * opts.creates]!;
    const vmHundred = ids[2 * opts.creates + 1]!;
    await runJob(rig.demo, 'createVMSnapshot', { virtualmachineid: vmOne });
    for (let i = 0; i < 100; i++) await runJob(rig.demo, 'createVMSnapshot', { virtualmachineid: vmHundred });

    // A tenant of the fill, with keys, and the other fill accounts.
    const accounts = new AccountStore(db);
    const tenantAccount = await accounts.createAccount('scale-tenant-0', 'user');
    const tenant = new BenchClient(rig.url, tenantAccount.apiKey, tenantAccount.secretKey);
    const accountIds = [tenantAccount.account.id];
    for (let i = 1; i < opts.accounts; i++) {
      accountIds.push((await accounts.createAccountWithoutKeys(`scale-tenant-${i}`, 'user')).account.id);
    }

    const createEmpty = await profiled(opts, `${engine} creates, empty store`, () =>
      createThroughput(rig.demo, roundEmpty),
    );
    const empty = await listFigures(rig, tenant, vmHundred, opts.calls);

    const { zoneId } = await firstZone(rig.app);
    const pool = await db
      .selectFrom('storage_pools')
      .select('id')
      .where('zone_id', '=', zoneId)
      .orderBy('created')
      .executeTakeFirstOrThrow();
    const t0 = performance.now();
    // SQLite's default page cache (2 MiB) makes a bulk load into six random-keyed indexes seek
    // for every row: a larger cache for the fill only, back to the default for the measurements.
    if (engine === 'sqlite') await db.executeQuery(CompiledQuery.raw('PRAGMA cache_size = -524288'));
    await fill(db, { vms: opts.vms, perVm: opts.snapsPerVm, accountIds, zoneId, poolId: pool.id });
    // Fresh statistics, as an operator's autovacuum (PostgreSQL) or `PRAGMA optimize` would give.
    await db.executeQuery(CompiledQuery.raw('ANALYZE'));
    if (engine === 'sqlite') {
      await db.executeQuery(
        CompiledQuery.raw(`PRAGMA cache_size = -${opts.cacheKib ?? SQLITE_DEFAULT_CACHE_KIB}`),
      );
    }
    const fillMs = performance.now() - t0;
    const rssFilled = process.memoryUsage().rss;
    const rows = opts.vms * opts.snapsPerVm;
    console.log(
      `[${engine}] fill: ${opts.vms} VMs, ${rows} snapshot rows (+ as many volume records) in ${(fillMs / 1000).toFixed(1)} s`,
    );

    const { result: full, peak } = await peakRss(() => listFigures(rig, tenant, vmHundred, opts.calls));
    const healthMs = await healthDuringLists(rig);
    const createFull = await profiled(opts, `${engine} creates, ${rows} rows`, () =>
      createThroughput(rig.demo, roundFull),
    );
    const one = await revertAndDelete(rig, vmOne, 10);
    const hundred = await revertAndDelete(rig, vmHundred, 10);

    const states = LISTED_BY_DEFAULT;
    for (const line of await plans(db, engine, {
      'admin listall': { accountId: null, states },
      'one tenant': { accountId: tenantAccount.account.id, states },
      'one VM': { accountId: rig.demoAccountId, vmId: vmHundred, states },
    })) {
      console.log(line);
    }
    console.log(
      `[${engine}] empty store: listall p50=${ms(empty.adminP50)} ms (count ${empty.adminCount}), tenant p50=${ms(empty.tenantP50)} ms, ` +
        `one VM p50=${ms(empty.vmP50)} ms, creates/s=${createEmpty.perSecond.toFixed(1)} (CPU ${ms(createEmpty.cpuMsPerCreate)} ms/create)`,
    );
    console.log(
      `[${engine}] ${rows} rows: listall p50=${ms(full.adminP50)} ms (count ${full.adminCount}), tenant p50=${ms(full.tenantP50)} ms ` +
        `(count ${full.tenantCount}), one VM p50=${ms(full.vmP50)} ms, creates/s=${createFull.perSecond.toFixed(1)} (CPU ${ms(createFull.cpuMsPerCreate)} ms/create), ` +
        `/health worst during 8 listall=${ms(healthMs)} ms`,
    );
    console.log(
      `[${engine}] revert job run p50: 1 snap ${ms(one.revertRunMs)} ms, 100 snaps ${ms(hundred.revertRunMs)} ms ` +
        `(API round trip ${ms(one.revertApiMs)} / ${ms(hundred.revertApiMs)} ms); delete job run p50: ` +
        `1 snap ${ms(one.deleteRunMs)} ms, 100 snaps ${ms(hundred.deleteRunMs)} ms ` +
        `(API round trip ${ms(one.deleteApiMs)} / ${ms(hundred.deleteApiMs)} ms)`,
    );
    console.log(
      `[${engine}] RSS: start ${mib(rssStart)} MiB, after fill ${mib(rssFilled)} MiB, peak during lists ${mib(peak)} MiB`,
    );
    return (
      `bench:scale engine=${engine} rows=${rows} vms=${opts.vms} fill_s=${(fillMs / 1000).toFixed(1)} ` +
      `list_p50_ms=${ms(full.adminP50)} tenant_list_p50_ms=${ms(full.tenantP50)} vm_list_p50_ms=${ms(full.vmP50)} ` +
      `empty_list_p50_ms=${ms(empty.adminP50)} create_ratio=${(createFull.perSecond / createEmpty.perSecond).toFixed(2)} ` +
      `creates_per_s_empty=${createEmpty.perSecond.toFixed(1)} creates_per_s_full=${createFull.perSecond.toFixed(1)} ` +
      `create_cpu_ratio=${(createFull.cpuMsPerCreate / createEmpty.cpuMsPerCreate).toFixed(2)} ` +
      `create_cpu_ms_empty=${ms(createEmpty.cpuMsPerCreate)} create_cpu_ms_full=${ms(createFull.cpuMsPerCreate)} ` +
      `revert_ms_1=${ms(one.revertRunMs)} revert_ms_100=${ms(hundred.revertRunMs)} ` +
      `delete_ms_1=${ms(one.deleteRunMs)} delete_ms_100=${ms(hundred.deleteRunMs)} ` +
      `health_worst_ms=${ms(healthMs)} rss_start_mib=${mib(rssStart)} rss_filled_mib=${mib(rssFilled)} ` +
      `rss_peak_lists_mib=${mib(peak)}`
    );
  } finally {
    await rig.close();
  }
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  if (opts.profileSql) installSqlProfile();
  const lines: string[] = [];
  for (const engine of opts.engines) lines.push(await runEngine(engine, opts));
  for (const line of lines) console.log(line);
}

// Run as the bench; imported (a profiling script reusing the fill), do nothing.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
