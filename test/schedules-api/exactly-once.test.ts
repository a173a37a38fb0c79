/**
 * Issue 13, item 3: a slot runs exactly once, whatever the number of management servers and
 * however they die. Two servers (the App and a second in-process server on its own connection,
 * with its own job queue, worker and scheduler) on one SQLite file, and on PostgreSQL when
 * VMSNAP_TEST_PG_URL is set, tick at the same fake times across several slots; then a server that
 * dies at each point of a run (after its claim, after choosing the snapshot and job ids, after
 * allocating the snapshot) is replaced by the other one, which finishes the run with one snapshot.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreateSnapshotRequest } from '../../src/manager/vm-snapshot-manager.ts';
import { VmSnapshotManager } from '../../src/manager/vm-snapshot-manager.ts';
import { POLICY_RUN_EVENT } from '../../src/manager/policy-run-steps.ts';
import type { Caller } from '../../src/manager/caller.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { driveAt, HOUR, nextHour, openPolicyWorld, type PolicyWorld, type Engine } from './policy-harness.ts';

const engines: { engine: Engine; skip: string | undefined }[] = [
  { engine: 'sqlite', skip: undefined },
  { engine: 'postgres', skip: postgresUnavailable() },
];

/** Snapshot rows (live or not) a policy took, and its run rows. */
async function countsOf(
  w: PolicyWorld,
  policyId: string,
): Promise<{ snaps: number; runs: number; slots: number[] }> {
  const snaps = await w.app.deps.db
    .selectFrom('vm_snapshots')
    .select('id')
    .where('policy_id', '=', policyId)
    .execute();
  const runs = await w.app.policyRuns.listByPolicy(policyId);
  return { snaps: snaps.length, runs: runs.length, slots: runs.map((r) => r.slot) };
}

/** A manager that "dies" (never returns) at a point of create: the server stopped there. */
function dyingAt(point: 'before-allocate' | 'after-allocate' | 'after-queueing') {
  return (real: VmSnapshotManager): VmSnapshotManager => {
    const dead = new Promise<never>(() => undefined);
    return Object.assign(Object.create(real) as VmSnapshotManager, {
      async create(caller: Caller, req: CreateSnapshotRequest) {
        if (point === 'after-allocate') await real.allocate(caller, req);
        // The job is queued (and run by whichever queue claims it); its run is never followed here.
        if (point === 'after-queueing') await real.create(caller, req);
        return dead;
      },
    });
  };
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`policy runs happen exactly once per slot (${engine})`, () => {
    let w: PolicyWorld;
    beforeEach(async () => {
      w = await openPolicyWorld(engine);
    });
    afterEach(async () => {
      await w.close();
    });

    it('two servers ticking together give one run and one snapshot per slot, over four slots', async () => {
      const b = await w.secondNode();
      const policy = await w.policy('web-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'Europe/Berlin',
        maxsnaps: 10,
      });
      const first = nextHour(Date.now());
      const slots = [0, 1, 2, 3].map((i) => first + i * HOUR);
      for (const slot of slots) {
        // Both servers tick at the slot, then a few seconds later, as their timers would.
        await driveAt(w.app, [w.a, b], slot, engine === 'postgres');
        await driveAt(w.app, [b, w.a], slot + 5_000, engine === 'postgres');
      }
      expect(await countsOf(w, policy.id)).toEqual({ snaps: 4, runs: 4, slots });
      const runs = await w.app.policyRuns.listByPolicy(policy.id);
      expect(runs.map((r) => r.outcome)).toEqual(['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded']);
      const events = await w.app.deps.db
        .selectFrom('events')
        .selectAll()
        .where('type', '=', POLICY_RUN_EVENT)
        .where('resource_id', '=', policy.id)
        .execute();
      expect(events).toHaveLength(4);
      expect(events.every((e) => e.description.includes(': Succeeded'))).toBe(true);
    });

    it.each(['after-claim', 'before-allocate', 'after-allocate', 'after-queueing'] as const)(
      'a server that dies %s leaves the slot to another, which takes exactly one snapshot',
      async (point) => {
        const policy = await w.policy('db-1', {
          intervaltype: 'HOURLY',
          schedule: '0',
          timezone: 'UTC',
          maxsnaps: 5,
        });
        const slot = nextHour(Date.now());
        const b = await w.secondNode(point === 'after-claim' ? {} : { snapshotManager: dyingAt(point) });
        if (point === 'after-claim') {
          // B wins the claim and dies before its first step: the claim is all it wrote.
          const claimed = await b.runs.claim({
            policyId: policy.id,
            slot,
            now: slot,
            lateMs: 0,
            owner: b.jobs.ownerId,
            leaseMs: 20_000,
          });
          expect(claimed).toBeDefined();
        } else {
          // B's step never returns: it died in the middle of creating (not awaited, as a dead process).
          void b.scheduler.tick(slot);
          await until(async () => {
            const [run] = await w.app.policyRuns.listByPolicy(policy.id);
            const snap = run?.snapshotId == null ? undefined : await w.app.deps.snapshots.get(run.snapshotId);
            const job = run?.jobId == null ? undefined : await w.app.deps.jobs.get(run.jobId);
            const reached =
              point === 'before-allocate' ||
              (snap !== undefined && (point === 'after-allocate' || job !== undefined));
            return run?.outcome === 'Creating' && reached;
          });
        }
        // Within B's lease, A leaves the run alone, and never claims the slot a second time.
        await w.a.scheduler.tick(slot + 10_000);
        const [held] = await w.app.policyRuns.listByPolicy(policy.id);
        expect(held!.owner).toBe(b.jobs.ownerId);
        expect(held!.finished).toBeNull();
        // B's lease ran out: A finishes the run with the ids B chose.
        await driveAt(w.app, [w.a], slot + 30_000);
        const [run] = await w.app.policyRuns.listByPolicy(policy.id);
        expect(run).toMatchObject({ outcome: 'Succeeded', slot });
        expect(await countsOf(w, policy.id)).toEqual({ snaps: 1, runs: 1, slots: [slot] });
        const snap = await w.app.deps.snapshots.get(run!.snapshotId!);
        expect(snap).toMatchObject({ state: 'Ready', policyId: policy.id });
        // And a restart of either server finds nothing left to do for that slot.
        await driveAt(w.app, [w.a], slot + 60_000);
        expect(await countsOf(w, policy.id)).toEqual({ snaps: 1, runs: 1, slots: [slot] });
      },
    );
  });
}

/** Polls a condition (bounded by count): B's step is in flight on the real event loop. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}
