/**
 * Issue 12, "Chaos": three `vmsnap serve` processes on one throwaway PostgreSQL database, 200 VMs,
 * 1,000 mixed create/revert/delete requests sent to random servers, while one server at a time is
 * SIGKILLed and started again (after every ~`killEvery` accepted operations). Afterwards, once every
 * server is up and every job is final:
 *  - no host-side command ran twice for one job (the simulator records each command that took
 *    effect, with its job, in the same write as the effect);
 *  - no VM's jobs overlapped (jobs table and the simulator's command intervals);
 *  - nothing is left transitional (no Creating/Reverting/Expunging snapshot, no running job);
 *  - the database equals the simulator (Ready snapshots, parents, current);
 *  - every accepted request (a server answered it with an async job id) reached a final state.
 *
 * The counts are parameters (VMSNAP_CHAOS_VMS, _OPERATIONS, _CONCURRENCY, _KILL_EVERY) with the
 * issue's numbers as the default. Nothing waits on time alone: kills follow progress, servers count
 * as up on /health, and the end waits for the condition (bounded).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTs } from '../helpers/child-process.ts';
import { until } from '../helpers/eventually.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { clusterSecrets, REPO } from '../cluster-e2e/cluster-processes.ts';
import { ChaosCluster } from './chaos-cluster.ts';
import {
  commandsWithoutJob,
  databaseVersusSimulator,
  duplicateCommands,
  overlaps,
  readFacts,
  transitional,
  unfinishedJobs,
  withDatabase,
} from './chaos-checks.ts';
import { runWorkload, type OpKind, type WorkloadReport } from './chaos-workload.ts';

/** Min, median and max of some durations (ms), for the report. */
function spread(values: readonly number[]): { n: number; min?: number; median?: number; max?: number } {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { n: 0 };
  return {
    n: sorted.length,
    min: sorted[0],
    median: sorted[Math.floor(sorted.length / 2)],
    max: sorted[sorted.length - 1],
  };
}

function count(name: string, fallback: number): number {
  const value = Number(process.env[`VMSNAP_CHAOS_${name}`] ?? fallback);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`VMSNAP_CHAOS_${name} must be a positive integer`);
  return value;
}

const SERVERS = 3;
const VMS = count('VMS', 200);
const OPERATIONS = count('OPERATIONS', 1000);
const CONCURRENCY = count('CONCURRENCY', 12);
const KILL_EVERY = count('KILL_EVERY', 60);
/**
 * The job lease (seconds) during the chaos: a killed server's jobs are taken over this long after.
 * Short, so the run stays short; long enough that a live server on a loaded machine keeps renewing
 * (renewals come every third of it): a server stalled past its lease is not fenced, and a command
 * it still sends after the take-over would show here as a mismatch.
 */
const LEASE_S = 5;
/** Bounds, only reached on failure: a job's wait, the final settling, setup. */
const JOB_BOUND_MS = 120_000;
const SETTLE_BOUND_MS = 180_000;

describe.skipIf(postgresUnavailable() !== undefined)(
  `chaos: ${SERVERS} servers, ${VMS} VMs, ${OPERATIONS} operations, a server SIGKILLed every ~${KILL_EVERY} accepted`,
  () => {
    let database: TempDatabase;
    let cluster: ChaosCluster | undefined;
    let report: WorkloadReport;

    beforeAll(async () => {
      database = await createTempDatabase();
      const secrets = clusterSecrets(database.url);
      const setup = spawnTs(join(REPO, 'test/cluster-chaos/chaos-setup.ts'), [String(VMS), String(LEASE_S)], {
        cwd: REPO,
        env: {
          ...process.env,
          VMSNAP_DATABASE_URL: secrets.databaseUrl,
          VMSNAP_DATABASE_KEY: secrets.databaseKey,
          VMSNAP_ADMIN_API_KEY: secrets.apiKey,
          VMSNAP_ADMIN_SECRET_KEY: secrets.secretKey,
        },
      });
      const code = await new Promise<number | null>((r) => setup.proc.once('close', r));
      if (code !== 0 || !setup.lines.includes(`READY ${VMS}`))
        throw new Error(`chaos setup failed (${code}): ${setup.stderr.join('')}`);
      cluster = await ChaosCluster.start(SERVERS, secrets);
    }, 300_000);

    afterAll(async () => {
      await cluster?.stopAll();
      await database?.drop();
    }, 120_000);

    it('every accepted operation ends, nothing runs twice or overlaps, the database equals the simulator', async () => {
      const started = Date.now();
      const c = cluster!;
      const listed = await c.call('listVirtualMachines', { listall: true }, { write: false });
      const vms = ((listed.kind === 'answer' ? listed.body['virtualmachine'] : undefined) ?? []) as {
        id: string;
        name: string;
        state: string;
      }[];
      const chaosVms = vms
        .filter((v) => v.name.startsWith('chaos-'))
        .map((v) => ({ id: v.id, running: v.state === 'Running' }));
      expect(chaosVms).toHaveLength(VMS);

      report = await runWorkload(c, chaosVms, {
        operations: OPERATIONS,
        concurrency: CONCURRENCY,
        killEvery: KILL_EVERY,
        jobBoundMs: JOB_BOUND_MS,
      });
      const workloadMs = Date.now() - started;

      // The end: every server up, every job final (jobs of requests whose answer was lost too).
      await until(() => c.allUp, 'every server to be up');
      await withDatabase(database.url, async (db) => {
        await until(async () => (await unfinishedJobs(db)) === 0, 'every job to be final', SETTLE_BOUND_MS);
        const facts = await readFacts(db);
        const stuck = await transitional(db);
        const compared = await databaseVersusSimulator(db);
        const byType = (kind: OpKind, status: number): number =>
          report.accepted.filter((o) => o.kind === kind && o.jobStatus === status).length;
        const takeoverDelays = facts.takeovers.map((t) => {
          const kill = [...report.restarts].reverse().find((r) => r.killedAt <= t.created);
          return kill === undefined ? NaN : t.created - kill.killedAt;
        });
        // For the closing note.
        console.info(
          JSON.stringify(
            {
              chaos: { servers: SERVERS, vms: VMS, operations: OPERATIONS, concurrency: CONCURRENCY },
              sent: report.sent,
              accepted: report.accepted.length,
              succeeded: {
                create: byType('create', 1),
                revert: byType('revert', 1),
                delete: byType('delete', 1),
              },
              failed: {
                create: byType('create', 2),
                revert: byType('revert', 2),
                delete: byType('delete', 2),
              },
              refused: report.refused,
              refusedExamples: report.refusedTexts.slice(0, 5),
              unknownFate: report.unknown,
              kills: report.restarts.length,
              restartMs: spread(report.restarts.map((r) => r.upAt - r.killedAt)),
              connectionRetries: c.connectionRetries,
              jobFailures: facts.failures,
              snapshotStates: facts.snapshotStates,
              takeovers: facts.takeovers.length,
              takeoverMsAfterKill: spread(takeoverDelays),
              leaseSeconds: LEASE_S,
              jobsInDatabase: facts.jobs.length,
              hostCommands: facts.commands.length,
              duplicates: duplicateCommands(facts).length,
              readySnapshotsCompared: compared.compared,
              workloadMs,
            },
            null,
            1,
          ),
        );
        expect(report.restarts.length, 'servers killed during the run').toBeGreaterThan(0);
        expect(duplicateCommands(facts)).toEqual([]);
        expect(commandsWithoutJob(facts)).toEqual([]);
        expect(overlaps(facts)).toEqual([]);
        expect(stuck).toEqual([]);
        expect(compared.mismatches).toEqual([]);
        expect(report.accepted.filter((o) => o.jobStatus === 0).map((o) => o.jobId)).toEqual([]);
        const finalIds = new Set(
          facts.jobs.filter((j) => j.status === 'succeeded' || j.status === 'failed').map((j) => j.id),
        );
        expect(report.accepted.filter((o) => !finalIds.has(o.jobId)).map((o) => o.jobId)).toEqual([]);
        // A host command per succeeded create and revert (a delete of a snapshot never taken may have none).
        const succeededIds = new Set(facts.jobs.filter((j) => j.status === 'succeeded').map((j) => j.id));
        const withCommand = new Set(facts.commands.map((cmd) => cmd.job_id));
        const silent = report.accepted.filter(
          (o) => o.kind !== 'delete' && succeededIds.has(o.jobId) && !withCommand.has(o.jobId),
        );
        expect(silent.map((o) => `${o.kind} ${o.jobId}`)).toEqual([]);
      });
    }, 900_000);
  },
);
