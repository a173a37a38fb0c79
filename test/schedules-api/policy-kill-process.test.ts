/**
 * Issue 13, "a server killed in the middle of a slot still gives exactly one snapshot per slot", with
 * real processes: two management servers (test/schedules-api/policy-kill-server.ts, what `vmsnap
 * serve` runs) on one throwaway PostgreSQL database, the job lease (which is also a policy run's
 * lease) at its minimum. Server A claims the policy's slot and stops at a named point of the run;
 * the test SIGKILLs it there. Server B finishes the run: one run row for (policy, slot), claimed by
 * A and never again, one Ready snapshot carrying the policy's id, one VMSNAPSHOT.POLICY.RUN event,
 * no job or snapshot left in flight.
 *  - `claimed` (the run row only), `ids-chosen` (its snapshot and job ids stored, nothing made),
 *    `allocated` (the snapshot row made, its take not queued): A holds the run's lease, which only a
 *    live step moves on, so B is started after the kill; it acts only once that lease has run out
 *    (asserted on the rows, never on a duration);
 *  - `finished`: the take is done and A is writing the run's final outcome with its event; the two
 *    commit together, so B (started after the kill, once A's lease ran out) finishes the run and
 *    records its one event (A's outcome once committed alone, and a kill there lost the event);
 *  - `take-sent`: the host took the snapshot and A never hands its answer back. A's take job keeps
 *    its lease while A lives, so B runs beside A from before the kill, and takes the job over from
 *    the dead server.
 * The slot is already due when the servers start: the policy runs daily at the current UTC minute,
 * and its creation is moved back a minute, so A's first tick claims it (one slot in a day: no
 * second slot can come due while the test runs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSecretBox, SECRET_KEY_FILE } from '../../src/app/secret-key.ts';
import { POLICY_RUN_EVENT } from '../../src/manager/policy-run-steps.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { PolicyRunStore, type PolicyRun } from '../../src/store/vm-snapshot-policy-run-store.ts';
import { killHard, spawnTs, type TsChild } from '../helpers/child-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { openTestApp } from '../helpers/test-app.ts';
import type { HoldPoint } from './policy-kill-server.ts';

const REPO = resolve(import.meta.dirname, '../..');
const SERVER = join(REPO, 'test/schedules-api/policy-kill-server.ts');
/** job.lease.seconds: its minimum, so a dead server's work is taken over soon. */
const LEASE_S = 2;
/** Bounds on waits that end as soon as their condition holds (a start on a busy CI machine). */
const START_BOUND_MS = 90_000;
const FINISH_BOUND_MS = 90_000;

interface World {
  readonly db: TempDatabase;
  readonly root: string;
  readonly store: OpenedStore;
  readonly runs: PolicyRunStore;
  readonly policyId: string;
  readonly vmId: string;
  readonly slot: number;
  readonly children: TsChild[];
}

/**
 * Seeds the database through an App in this process (then stopped: only the children serve), sets
 * the short lease, and creates a daily policy at the current UTC minute, created a minute before it.
 */
async function openWorld(): Promise<World> {
  const db = await createTempDatabase();
  const root = mkdtempSync(join(tmpdir(), 'vmsnap-policy-kill-'));
  const setupDir = join(root, 'setup');
  const t = await openTestApp({ dir: setupDir, databaseUrl: db.url, policyIntervalMs: 3_600_000 });
  const vm = await t.vm('web-1');
  await t.app.deps.settings.set('job.lease.seconds', String(LEASE_S));
  const now = new Date();
  const slot = Date.UTC(
    now.getUTCFullYear(),
    now.getUTCMonth(),
    now.getUTCDate(),
    now.getUTCHours(),
    now.getUTCMinutes(),
  );
  const policy = await t.app.policyManager.create(t.demo, {
    vmId: vm.id,
    cron: `${now.getUTCMinutes()} ${now.getUTCHours()} * * *`,
    timezone: 'UTC',
    maxsnaps: 5,
  });
  // Created before its slot (a slot before a policy's creation is never run): due at once.
  await t.app.deps.db
    .updateTable('vm_snapshot_policies')
    .set({ created: slot - 60_000 })
    .where('id', '=', policy.id)
    .execute();
  await t.close();
  const store = await openStore({ url: db.url, secrets: openSecretBox(setupDir) });
  return {
    db,
    root,
    store,
    runs: new PolicyRunStore(store.db),
    policyId: policy.id,
    vmId: vm.id,
    slot,
    children: [],
  };
}

function startServer(w: World, name: string, point: HoldPoint): TsChild {
  const child = spawnTs(SERVER, [join(w.root, name), point], {
    cwd: REPO,
    env: {
      ...process.env,
      VMSNAP_DATABASE_URL: w.db.url,
      VMSNAP_SECRET_KEY_FILE: join(w.root, 'setup', SECRET_KEY_FILE),
      VMSNAP_DATABASE_KEY: '',
    },
  });
  w.children.push(child);
  return child;
}

/** The words after `prefix` on the first stdout line starting with it, once the child printed it. */
function lineOf(child: TsChild, prefix: string): Promise<string[]> {
  return eventually(
    () => {
      const line = child.lines.find((l) => l.startsWith(`${prefix} `));
      if (line !== undefined) return line.slice(prefix.length + 1).split(' ');
      if (child.proc.exitCode !== null) throw new Error(`server exited: ${child.stderr.join('')}`);
      return undefined;
    },
    `a server to print ${prefix}`,
    { timeoutMs: START_BOUND_MS },
  );
}

/** What a run, its snapshot and its take job were when A was killed, per kill point. */
const PROGRESS_AT = {
  claimed: { run: 'Pending', snapshot: 'none', job: 'none' },
  'ids-chosen': { run: 'Creating', snapshot: 'none', job: 'none' },
  allocated: { run: 'Creating', snapshot: 'Allocated', job: 'none' },
  'take-sent': { run: 'Creating', snapshot: 'Creating', job: 'running' },
  // The final outcome commits with its event, never before it (it was once left final, unreported).
  finished: { run: 'Creating', snapshot: 'Ready', job: 'succeeded' },
} as const;

async function progressOf(w: World, run: PolicyRun): Promise<{ run: string; snapshot: string; job: string }> {
  const snap =
    run.snapshotId === null
      ? undefined
      : await w.store.db
          .selectFrom('vm_snapshots')
          .select('state')
          .where('id', '=', run.snapshotId)
          .executeTakeFirst();
  const job = run.jobId === null ? undefined : await jobOf(w, run.jobId);
  return { run: run.outcome, snapshot: snap?.state ?? 'none', job: job?.status ?? 'none' };
}

async function runsOf(w: World): Promise<PolicyRun[]> {
  return w.runs.listByPolicy(w.policyId);
}

async function jobOf(w: World, id: string): Promise<{ status: string; owner: string | null } | undefined> {
  return w.store.db
    .selectFrom('async_jobs')
    .select(['status', 'owner'])
    .where('id', '=', id)
    .executeTakeFirst();
}

describe.skipIf(postgresUnavailable() !== undefined)(
  'a server SIGKILLed in the middle of a policy run (real processes, PostgreSQL)',
  () => {
    let w: World;
    beforeEach(async () => {
      w = await openWorld();
    });
    afterEach(async () => {
      // SIGKILL: a server held at a point never finishes a graceful stop.
      for (const c of w.children) {
        if (c.proc.exitCode === null && c.proc.signalCode === null) await killHard(c);
      }
      await w.store.close();
      await w.db.drop();
      rmSync(w.root, { recursive: true, force: true });
    });

    it.each(['claimed', 'ids-chosen', 'allocated', 'take-sent', 'finished'] as const)(
      'killed at %s: the other server finishes the run with exactly one snapshot for the slot',
      async (point) => {
        const a = startServer(w, 'a', point);
        const [aId] = await lineOf(a, 'OPEN');
        const [claimedRunId, claimedSlot] = await lineOf(a, 'CLAIMED');
        expect(Number(claimedSlot)).toBe(w.slot);
        await lineOf(a, `HELD ${point}`);
        const [held] = await runsOf(w);
        expect(held).toMatchObject({ id: claimedRunId, finished: null });
        // Where A stopped, as the database has it.
        expect(await progressOf(w, held!)).toEqual(PROGRESS_AT[point]);

        let b: TsChild | undefined;
        if (point === 'take-sent') {
          // A's take job is running and its lease renewed: B, up beside it, cannot finish the run.
          b = startServer(w, 'b', 'none');
          await lineOf(b, 'OPEN');
          const job = await jobOf(w, held!.jobId!);
          expect(job).toEqual({ status: 'running', owner: aId });
          expect((await runsOf(w))[0]!.finished).toBeNull();
        } else {
          // A holds the run's lease, which only a live step would move on.
          expect(held).toMatchObject({ owner: aId, leaseUntil: expect.any(Number) as number });
        }

        const killedAt = Date.now();
        await killHard(a);
        b ??= startServer(w, 'b', 'none');
        const [bId] = await lineOf(b, 'OPEN');
        const bReadyMs = Date.now() - killedAt;
        const run = await eventually(
          async () => {
            const [r] = await runsOf(w);
            return r?.finished === null ? undefined : r;
          },
          'the run to be finished',
          { timeoutMs: FINISH_BOUND_MS },
        );
        // For the closing note: how long the take-over took here, against the lease.
        const tookMs = run.finished! - killedAt;
        const afterLease =
          point === 'take-sent'
            ? ''
            : `, ${run.finished! - held!.leaseUntil!} ms after A's run lease ran out`;
        console.info(
          `policy run killed at ${point}: B up ${bReadyMs} ms after the SIGKILL; run ${run.outcome} ` +
            `${tookMs} ms after it${afterLease} (lease ${LEASE_S * 1000} ms): ${run.reason}`,
        );

        // One run for the slot, the one A claimed: B never claimed it again.
        expect(await runsOf(w)).toEqual([expect.objectContaining({ id: claimedRunId, slot: w.slot })]);
        expect(b.lines.filter((l) => l.startsWith('CLAIMED '))).toEqual([]);
        expect(run).toMatchObject({ outcome: 'Succeeded', owner: null, leaseUntil: null });
        if (point !== 'take-sent') {
          // B stepped the run only once A's lease on it had run out.
          expect(run.finished!).toBeGreaterThanOrEqual(held!.leaseUntil!);
        } else {
          // B took the dead server's take job over (the job queue's lease), and recorded it.
          expect(await jobOf(w, run.jobId!)).toMatchObject({ status: 'succeeded' });
          await expectTakeoverEvent(w, run.jobId!, aId!, bId!);
        }

        // Exactly one snapshot for the slot, Ready, carrying the policy; nothing left in flight.
        const snaps = await w.store.db
          .selectFrom('vm_snapshots')
          .select(['id', 'state', 'policy_id'])
          .where('vm_id', '=', w.vmId)
          .execute();
        expect(snaps).toEqual([{ id: run.snapshotId, state: 'Ready', policy_id: w.policyId }]);
        const open = await w.store.db
          .selectFrom('async_jobs')
          .select(['id', 'status'])
          .where('queue_key', '=', w.vmId)
          .where('status', 'in', ['queued', 'running'])
          .execute();
        expect(open).toEqual([]);
        const events = await w.store.db
          .selectFrom('events')
          .select('description')
          .where('type', '=', POLICY_RUN_EVENT)
          .where('resource_id', '=', w.policyId)
          .execute();
        expect(events).toHaveLength(1);
        expect(events[0]!.description).toContain(`slot ${new Date(w.slot).toISOString()}: Succeeded`);
      },
      4 * FINISH_BOUND_MS,
    );
  },
);

async function expectTakeoverEvent(
  w: World,
  jobId: string,
  deadOwner: string,
  newOwner: string,
): Promise<void> {
  const rows = await w.store.db
    .selectFrom('events')
    .select('description')
    .where('type', '=', 'JOB.TAKEOVER')
    .where('resource_id', '=', jobId)
    .execute();
  expect(rows).toHaveLength(1);
  expect(rows[0]!.description).toContain(
    `of management server ${deadOwner} taken over by management server ${newOwner}`,
  );
}
