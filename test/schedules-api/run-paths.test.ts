/**
 * Issue 13, item 3: what a run does besides taking a snapshot, on the scheduler's fake clock.
 *  - after downtime, the missed slots give one run, reported late (outcome, reason and event);
 *  - a VM busy with another job is retried within the slot, then skipped with the reason;
 *  - a VM at vmsnapshot.max is pruned by the policy's retention when that frees room, else skipped
 *    with a WARN event; manual snapshots are never deleted;
 *  - a Stopped VM with snapshotmemory=true gets a disk-only snapshot, said in the run's reason.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POLICY_RUN_EVENT } from '../../src/manager/policy-run-steps.ts';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { driveAt, HOUR, nextHour, openPolicyWorld, type PolicyWorld } from './policy-harness.ts';

describe('VM snapshot policy runs', () => {
  let w: PolicyWorld;
  beforeEach(async () => {
    w = await openPolicyWorld('sqlite');
  });
  afterEach(async () => {
    await w.close();
  });

  async function runEvents(policyId: string) {
    return w.app.deps.db
      .selectFrom('events')
      .selectAll()
      .where('type', '=', POLICY_RUN_EVENT)
      .where('resource_id', '=', policyId)
      .orderBy('id')
      .execute();
  }

  async function manualSnapshot(vmName: string, name: string): Promise<StoredVmSnapshot> {
    const vm = await w.t.vm(vmName);
    const { snapshot, jobId } = await w.app.snapshotManager.create(w.t.demo, { vmId: vm.id, name });
    expect((await w.app.deps.jobs.waitFor(jobId)).status).toBe('succeeded');
    return snapshot;
  }

  async function live(vmName: string): Promise<StoredVmSnapshot[]> {
    return w.app.deps.snapshots.listByVm((await w.t.vm(vmName)).id);
  }

  it('runs a missed slot once after downtime, reported late by how much', async () => {
    const policy = await w.policy('web-1', {
      intervaltype: 'HOURLY',
      schedule: '0',
      timezone: 'UTC',
      maxsnaps: 10,
    });
    const first = nextHour(Date.now());
    await driveAt(w.app, [w.a], first);
    // Down for five slots: back 12 minutes after the fifth.
    const back = first + 5 * HOUR + 12 * 60_000;
    await driveAt(w.app, [w.a], back);
    const runs = await w.app.policyRuns.listByPolicy(policy.id);
    expect(runs.map((r) => r.slot)).toEqual([first, first + 5 * HOUR]);
    expect(runs[1]).toMatchObject({ outcome: 'Succeeded', lateMs: 12 * 60_000 });
    expect(runs[1]!.reason).toMatch(/^late by 12m /);
    expect(runs[0]!.reason).not.toMatch(/late/);
    const events = await runEvents(policy.id);
    expect(events).toHaveLength(2);
    expect(events[1]!.description).toMatch(/Succeeded: late by 12m/);
    expect((await live('web-1')).filter((s) => s.policyId === policy.id)).toHaveLength(2);
    const stored = await w.app.policies.get(policy.id);
    expect(stored).toMatchObject({ lastSlot: first + 5 * HOUR, lastRunOutcome: 'Succeeded' });
  });

  describe('a VM busy with another job', () => {
    let release: () => void = () => undefined;
    async function blockVm(vmName: string): Promise<string> {
      const gate = new Promise<void>((resolve) => (release = resolve));
      w.app.deps.jobs.handle(
        'test.block',
        async () => {
          await gate;
          return {};
        },
        async () => ({}),
      );
      const vm = await w.t.vm(vmName);
      return w.app.deps.jobs.submit({
        kind: 'test.block',
        queueKey: vm.id,
        accountId: w.t.demo.accountId,
        userId: w.t.demo.userId,
        cmd: 'test',
        payload: {},
      });
    }
    afterEach(() => release());

    it('is retried within the slot and snapshotted once free', async () => {
      const policy = await w.policy('web-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 10,
      });
      const blocker = await blockVm('web-1');
      const slot = nextHour(Date.now());
      await driveAt(w.app, [w.a], slot);
      let [run] = await w.app.policyRuns.listByPolicy(policy.id);
      expect(run).toMatchObject({ outcome: 'Pending', attempts: 1, nextAttempt: slot + 60_000 });
      expect(run!.reason).toContain(`Instance busy with job ${blocker} (test.block`);
      release();
      await w.app.deps.jobs.waitFor(blocker);
      await driveAt(w.app, [w.a], slot + 60_000);
      [run] = await w.app.policyRuns.listByPolicy(policy.id);
      expect(run).toMatchObject({ outcome: 'Succeeded', attempts: 1 });
      expect((await live('web-1')).filter((s) => s.policyId === policy.id)).toHaveLength(1);
    });

    it('is skipped with the reason after the bounded attempts', async () => {
      const policy = await w.policy('web-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 10,
      });
      const blocker = await blockVm('web-1');
      const slot = nextHour(Date.now());
      for (const at of [0, 60_000, 120_000]) await driveAt(w.app, [w.a], slot + at);
      const [run] = await w.app.policyRuns.listByPolicy(policy.id);
      expect(run).toMatchObject({ outcome: 'Skipped', attempts: 3 });
      expect(run!.reason).toBe(
        `Instance busy with job ${blocker} (test.block, running); gave up after 3 attempt(s) in this slot`,
      );
      const [event] = await runEvents(policy.id);
      expect(event).toMatchObject({ level: 'WARN' });
      expect(event!.description).toContain('Skipped: Instance busy with job');
      expect((await live('web-1')).filter((s) => s.policyId === policy.id)).toHaveLength(0);
    });
  });

  describe('a VM at vmsnapshot.max', () => {
    beforeEach(async () => {
      await w.app.deps.settings.set('vmsnapshot.max', '3');
    });

    it("prunes the policy's own snapshot by its retention to make room, never a manual one", async () => {
      const policy = await w.policy('db-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 1,
      });
      const first = nextHour(Date.now());
      await driveAt(w.app, [w.a], first);
      const firstSnap = (await live('db-1')).find((s) => s.policyId === policy.id)!;
      const manual = [await manualSnapshot('db-1', 'm1'), await manualSnapshot('db-1', 'm2')];
      expect(await live('db-1')).toHaveLength(3);
      await driveAt(w.app, [w.a], first + HOUR);
      const runs = await w.app.policyRuns.listByPolicy(policy.id);
      expect(runs[1]).toMatchObject({ outcome: 'Succeeded' });
      const after = await live('db-1');
      expect(after.map((s) => s.id)).not.toContain(firstSnap.id);
      expect(
        after
          .filter((s) => s.policyId === null)
          .map((s) => s.id)
          .sort(),
      ).toEqual(manual.map((m) => m.id).sort());
      expect(after.filter((s) => s.policyId === policy.id)).toHaveLength(1);
    });

    it('skips with a WARN event when the retention frees no room', async () => {
      const policy = await w.policy('db-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 3,
      });
      for (const n of ['m1', 'm2', 'm3']) await manualSnapshot('db-1', n);
      const slot = nextHour(Date.now());
      await driveAt(w.app, [w.a], slot);
      const [run] = await w.app.policyRuns.listByPolicy(policy.id);
      expect(run).toMatchObject({ outcome: 'Skipped' });
      expect(run!.reason).toBe(
        "Instance has 3 snapshots and vmsnapshot.max is 3; the policy's retention frees none of them",
      );
      const [event] = await runEvents(policy.id);
      expect(event).toMatchObject({ level: 'WARN' });
      expect(await live('db-1')).toHaveLength(3);
    });
  });

  it('keeps manual snapshots through many runs of a tight retention', async () => {
    const policy = await w.policy('web-1', {
      intervaltype: 'HOURLY',
      schedule: '0',
      timezone: 'UTC',
      keephourly: 2,
    });
    const first = nextHour(Date.now());
    const manual: string[] = [];
    for (let i = 0; i < 5; i++) {
      await driveAt(w.app, [w.a], first + i * HOUR);
      // The retention deletes queued by the run finish before the next manual snapshot.
      for (const job of await w.app.deps.db
        .selectFrom('async_jobs')
        .select('id')
        .where('status', 'in', ['queued', 'running'])
        .execute()) {
        await w.app.deps.jobs.waitFor(job.id);
      }
      manual.push((await manualSnapshot('web-1', `manual-${i}`)).id);
    }
    const after = await live('web-1');
    expect(
      after
        .filter((s) => s.policyId === null)
        .map((s) => s.id)
        .sort(),
    ).toEqual([...manual].sort());
    // keephourly 2: the two newest slots' snapshots remain.
    const own = after.filter((s) => s.policyId === policy.id);
    expect(own).toHaveLength(2);
  });

  it('takes a disk-only snapshot of a Stopped VM when memory is asked, and says so', async () => {
    const policy = await w.policy('app-1', {
      intervaltype: 'DAILY',
      schedule: '30:02',
      timezone: 'Europe/Berlin',
      maxsnaps: 3,
      snapshotMemory: true,
    });
    expect((await w.t.vm('app-1')).state).toBe('Stopped');
    const slot = nextSlot(policy.created);
    await driveAt(w.app, [w.a], slot);
    const [run] = await w.app.policyRuns.listByPolicy(policy.id);
    expect(run).toMatchObject({ outcome: 'Succeeded' });
    expect(run!.reason).toMatch(
      /^Instance is Stopped: took a disk-only snapshot \(snapshotmemory needs a Running Instance\); took snapshot /,
    );
    const snap = await w.app.deps.snapshots.get(run!.snapshotId!);
    expect(snap).toMatchObject({ type: 'Disk', state: 'Ready', policyId: policy.id });
  });
});

/** The next 02:30 Europe/Berlin after `ms` (a DAILY 30:02 slot). */
function nextSlot(ms: number): number {
  for (let h = Math.floor(ms / HOUR) * HOUR + HOUR; ; h += HOUR) {
    const parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Berlin',
      hour: '2-digit',
      hourCycle: 'h23',
    }).format(h + 30 * 60_000);
    if (parts === '02') return h + 30 * 60_000;
  }
}
