/**
 * Issue 13, item 4, through the runner: the scheduler ticking every 15 minutes (fake clock) across
 * Europe/Berlin's spring and autumn changes claims exactly one run per day for a DAILY 02:30
 * policy — the 02:30 that does not exist in spring is not lost, the one that happens twice in
 * autumn is not doubled. (The slot calendar's own DST rules are tested in test/schedules.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPolicyWorld, settleJobsOf, type PolicyWorld } from './policy-harness.ts';

const QUARTER = 15 * 60_000;

describe('policy runs across daylight-saving changes (Europe/Berlin, DAILY 02:30)', () => {
  let w: PolicyWorld;
  beforeEach(async () => {
    w = await openPolicyWorld('sqlite');
  });
  afterEach(async () => {
    await w.close();
  });

  async function runDays(from: string, to: string): Promise<string[]> {
    const policy = await w.policy('batch-1', {
      intervaltype: 'DAILY',
      schedule: '30:02',
      timezone: 'Europe/Berlin',
      maxsnaps: 10,
    });
    for (let at = Date.parse(from); at <= Date.parse(to); at += QUARTER) {
      await w.a.scheduler.tick(at);
      await settleJobsOf(w.app, await w.app.policyRuns.listDue(Number.MAX_SAFE_INTEGER));
      await w.a.scheduler.tick(at);
    }
    const runs = await w.app.policyRuns.listByPolicy(policy.id);
    expect(runs.every((r) => r.outcome === 'Succeeded')).toBe(true);
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', dateStyle: 'short' });
    return runs.map((r) => day.format(r.slot));
  }

  it('spring forward (28 March 2027, 02:00 -> 03:00): one run each day', async () => {
    const days = await runDays('2027-03-26T22:00:00Z', '2027-03-29T06:00:00Z');
    // The first tick runs the latest slot before it (26 March, late): the policy is older than it.
    expect(days).toEqual(['2027-03-26', '2027-03-27', '2027-03-28', '2027-03-29']);
  });

  it('fall back (31 October 2027, 03:00 -> 02:00): one run each day', async () => {
    const days = await runDays('2027-10-29T22:00:00Z', '2027-11-01T06:00:00Z');
    expect(days).toEqual(['2027-10-29', '2027-10-30', '2027-10-31', '2027-11-01']);
  });

  it('never claims a slot twice however often the servers tick', async () => {
    const policy = await w.policy('batch-1', {
      intervaltype: 'HOURLY',
      schedule: '0',
      timezone: 'UTC',
      maxsnaps: 10,
    });
    const slot = Date.parse('2027-01-01T00:00:00Z');
    for (let i = 0; i < 10; i++) await w.a.scheduler.tick(slot + i * 1000);
    expect((await w.app.policyRuns.listByPolicy(policy.id)).map((r) => r.slot)).toEqual([slot]);
  });
});
