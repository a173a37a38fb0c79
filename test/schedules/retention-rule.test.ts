import { describe, expect, it } from 'vitest';
import { decideRetention } from '../../src/schedules/retention-rule.ts';
import type { Retention, RetentionCandidate } from '../../src/schedules/schedule-types.ts';

const P = 'policy-1';

function snap(id: string, iso: string, policyId: string | null = P): RetentionCandidate {
  return { id, created: Date.parse(iso), policyId };
}

function levels(
  keep: Partial<Record<'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', number>>,
): Retention {
  return {
    kind: 'levels',
    keephourly: keep.hourly ?? 0,
    keepdaily: keep.daily ?? 0,
    keepweekly: keep.weekly ?? 0,
    keepmonthly: keep.monthly ?? 0,
    keepyearly: keep.yearly ?? 0,
  };
}

/** id → reason, for the kept and the removed. */
function outcome(decisions: ReturnType<typeof decideRetention>): { keep: string[]; remove: string[] } {
  return {
    keep: decisions.filter((d) => d.keep).map((d) => d.id),
    remove: decisions.filter((d) => !d.keep).map((d) => d.id),
  };
}

describe('maxsnaps', () => {
  const history = [
    snap('a', '2026-11-30T10:00Z'),
    snap('c', '2026-11-30T12:00Z'),
    snap('b', '2026-11-30T11:00Z'),
    snap('m', '2026-11-30T13:00Z', null),
    snap('o', '2026-11-30T14:00Z', 'other-policy'),
  ];

  it('keeps the newest N of the policy, newest first, with reasons', () => {
    expect(decideRetention(history, { kind: 'maxsnaps', maxsnaps: 2 }, P, 'UTC')).toEqual([
      { id: 'c', keep: true, reason: 'newest 1 of maxsnaps 2' },
      { id: 'b', keep: true, reason: 'newest 2 of maxsnaps 2' },
      { id: 'a', keep: false, reason: 'beyond maxsnaps 2 (newest 3)' },
    ]);
  });

  it('keeps all when there are fewer than N', () => {
    expect(outcome(decideRetention(history, { kind: 'maxsnaps', maxsnaps: 5 }, P, 'UTC'))).toEqual({
      keep: ['c', 'b', 'a'],
      remove: [],
    });
  });

  it('says nothing about manual snapshots or another policy’s', () => {
    const ids = decideRetention(history, { kind: 'maxsnaps', maxsnaps: 1 }, P, 'UTC').map((d) => d.id);
    expect(ids).not.toContain('m');
    expect(ids).not.toContain('o');
    expect(decideRetention(history, { kind: 'maxsnaps', maxsnaps: 1 }, 'no-such-policy', 'UTC')).toEqual([]);
  });

  it('orders equal creation times by id, so the result does not depend on input order', () => {
    const tied = [snap('x1', '2026-11-30T10:00Z'), snap('x2', '2026-11-30T10:00Z')];
    const forward = decideRetention(tied, { kind: 'maxsnaps', maxsnaps: 1 }, P, 'UTC');
    const backward = decideRetention([...tied].reverse(), { kind: 'maxsnaps', maxsnaps: 1 }, P, 'UTC');
    expect(forward).toEqual(backward);
    expect(forward[0]).toMatchObject({ id: 'x2', keep: true });
  });
});

describe('keep-* levels (Proxmox Backup Server prune rule)', () => {
  // The worked example of docs/schedules.md.
  const worked = [
    snap('s1', '2026-11-30T18:00Z'), // Monday, ISO week 2026-W49
    snap('s2', '2026-11-30T06:00Z'),
    snap('s3', '2026-11-29T18:00Z'), // Sunday, 2026-W48
    snap('s4', '2026-11-28T18:00Z'), // Saturday, 2026-W48
    snap('s5', '2026-11-22T18:00Z'), // 2026-W47
    snap('s6', '2026-11-15T18:00Z'), // 2026-W46
    snap('s7', '2026-10-31T18:00Z'), // 2026-W44
    snap('s8', '2026-10-15T18:00Z'),
    snap('s9', '2025-12-31T18:00Z'),
    snap('manual', '2026-11-30T19:00Z', null),
  ];

  it('the documented worked example, reason by reason', () => {
    const decisions = decideRetention(
      worked,
      levels({ hourly: 1, daily: 2, weekly: 2, monthly: 2, yearly: 1 }),
      P,
      'UTC',
    );
    expect(decisions).toEqual([
      { id: 's1', keep: true, reason: 'keep-hourly 1/1 (2026-11-30T18)' },
      { id: 's2', keep: false, reason: 'not selected by any keep-* level' },
      { id: 's3', keep: true, reason: 'keep-daily 1/2 (2026-11-29)' },
      { id: 's4', keep: true, reason: 'keep-daily 2/2 (2026-11-28)' },
      { id: 's5', keep: true, reason: 'keep-weekly 1/2 (2026-W47)' },
      { id: 's6', keep: true, reason: 'keep-weekly 2/2 (2026-W46)' },
      { id: 's7', keep: true, reason: 'keep-monthly 1/2 (2026-10)' },
      { id: 's8', keep: false, reason: 'keep-monthly: a newer snapshot is kept for 2026-10' },
      { id: 's9', keep: true, reason: 'keep-monthly 2/2 (2025-12)' },
    ]);
  });

  it('a later level does not reconsider what an earlier level marked for removal (PBS)', () => {
    // keep-weekly 1 keeps a (W49) and marks b, the older one of W49, for removal; keep-monthly then
    // skips b although it is November's newest, and keeps c for November instead.
    const history = [
      snap('a', '2026-12-01T12:00Z'),
      snap('b', '2026-11-30T12:00Z'),
      snap('c', '2026-11-20T12:00Z'),
    ];
    expect(decideRetention(history, levels({ weekly: 1, monthly: 2 }), P, 'UTC')).toEqual([
      { id: 'a', keep: true, reason: 'keep-weekly 1/1 (2026-W49)' },
      { id: 'b', keep: false, reason: 'keep-weekly: a newer snapshot is kept for 2026-W49' },
      { id: 'c', keep: true, reason: 'keep-monthly 1/2 (2026-11)' },
    ]);
  });

  it('a level skips periods an earlier level already covers and only looks at older ones', () => {
    // keep-daily 1 keeps a; keep-weekly 2 finds a's week covered, so keeps the newest of two older weeks.
    const history = [
      snap('a', '2026-11-30T12:00Z'), // W49
      snap('b', '2026-11-30T08:00Z'), // W49, same day
      snap('c', '2026-11-25T12:00Z'), // W48
      snap('d', '2026-11-18T12:00Z'), // W47
      snap('e', '2026-11-11T12:00Z'), // W46
    ];
    expect(outcome(decideRetention(history, levels({ daily: 1, weekly: 2 }), P, 'UTC'))).toEqual({
      keep: ['a', 'c', 'd'],
      remove: ['b', 'e'],
    });
  });

  it('a level of 0 keeps nothing', () => {
    const history = [snap('a', '2026-11-30T12:00Z'), snap('b', '2026-11-29T12:00Z')];
    expect(outcome(decideRetention(history, levels({ daily: 0, weekly: 1 }), P, 'UTC'))).toEqual({
      keep: ['a'],
      remove: ['b'],
    });
  });

  it('keeps everything when every level is 0, as PBS does', () => {
    const decisions = decideRetention(worked, levels({}), P, 'UTC');
    expect(decisions).toHaveLength(9);
    expect(decisions.every((d) => d.keep && d.reason.startsWith('no keep-* level set'))).toBe(true);
  });

  it('takes periods in the policy timezone', () => {
    // 23:30Z on 30 November is already 1 December in Berlin.
    const history = [snap('late', '2026-11-30T23:30Z'), snap('early', '2026-11-30T22:00Z')];
    expect(outcome(decideRetention(history, levels({ daily: 2 }), P, 'UTC'))).toEqual({
      keep: ['late'],
      remove: ['early'],
    });
    expect(outcome(decideRetention(history, levels({ daily: 2 }), P, 'Europe/Berlin'))).toEqual({
      keep: ['late', 'early'],
      remove: [],
    });
  });

  it('uses ISO weeks across New Year: 31 Dec 2026 and 1 Jan 2027 are both 2026-W53', () => {
    const history = [snap('jan1', '2027-01-01T12:00Z'), snap('dec31', '2026-12-31T12:00Z')];
    expect(decideRetention(history, levels({ weekly: 2 }), P, 'UTC')).toEqual([
      { id: 'jan1', keep: true, reason: 'keep-weekly 1/2 (2026-W53)' },
      { id: 'dec31', keep: false, reason: 'keep-weekly: a newer snapshot is kept for 2026-W53' },
    ]);
    expect(outcome(decideRetention(history, levels({ yearly: 2 }), P, 'UTC')).keep).toEqual([
      'jan1',
      'dec31',
    ]);
  });

  it('treats the repeated autumn hour as one hour period, as strftime does', () => {
    // 02:10 CEST and 02:40 CET on 25 October 2026 both read 02 in Berlin.
    const history = [snap('cet', '2026-10-25T01:40Z'), snap('cest', '2026-10-25T00:10Z')];
    expect(outcome(decideRetention(history, levels({ hourly: 5 }), P, 'Europe/Berlin'))).toEqual({
      keep: ['cet'],
      remove: ['cest'],
    });
  });

  it('never decides manual snapshots or other policies’ snapshots', () => {
    const history = [...worked, snap('other', '2026-11-30T20:00Z', 'policy-2')];
    const ids = decideRetention(history, levels({ hourly: 100 }), P, 'UTC').map((d) => d.id);
    expect(ids).not.toContain('manual');
    expect(ids).not.toContain('other');
    expect(ids).toHaveLength(9);
  });
});
