import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseSchedule, type ScheduleInput } from '../../src/schedules/schedule-spec.ts';
import {
  SLOT_LOOK_BACK_DAYS,
  latestSlotAtOrBefore,
  nextSlotAfter,
} from '../../src/schedules/slot-calendar.ts';

// 2026 changes: Europe/Berlin springs 02:00 CET → 03:00 CEST on 29 March (01:00Z) and falls back
// 03:00 CEST → 02:00 CET on 25 October (01:00Z). America/New_York springs 02:00 EST → 03:00 EDT on
// 8 March (07:00Z) and falls back 02:00 EDT → 01:00 EST on 1 November (06:00Z).
const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString().replace(':00.000Z', 'Z');

/** The next `count` slots after `from`, as UTC ISO minutes. */
function runs(input: ScheduleInput, timeZone: string, from: string, count: number): string[] {
  const spec = parseSchedule(input);
  const found: string[] = [];
  let t = at(from);
  for (let i = 0; i < count; i++) {
    t = nextSlotAfter(spec, timeZone, t);
    found.push(iso(t));
  }
  return found;
}

function latest(input: ScheduleInput, timeZone: string, atIso: string): string | undefined {
  const slot = latestSlotAtOrBefore(parseSchedule(input), timeZone, at(atIso));
  return slot === undefined ? undefined : iso(slot);
}

describe('HOURLY', () => {
  it('runs every hour at the minute, strictly after the given instant', () => {
    expect(runs({ intervaltype: 'HOURLY', schedule: '05' }, 'UTC', '2026-11-30T10:05Z', 3)).toEqual([
      '2026-11-30T11:05Z',
      '2026-11-30T12:05Z',
      '2026-11-30T13:05Z',
    ]);
  });

  it('Berlin spring: the missing 02:30 runs once at 03:00 CEST, then every real hour', () => {
    expect(runs({ intervaltype: 'HOURLY', schedule: '30' }, BERLIN, '2026-03-28T23:45Z', 4)).toEqual([
      '2026-03-29T00:30Z', // 01:30 CET
      '2026-03-29T01:00Z', // 02:30 does not exist: 03:00 CEST
      '2026-03-29T01:30Z', // 03:30 CEST
      '2026-03-29T02:30Z', // 04:30 CEST
    ]);
  });

  it('Berlin spring at :00: the missing 02:00 and 03:00 are one instant and run once', () => {
    expect(runs({ intervaltype: 'HOURLY', schedule: '0' }, BERLIN, '2026-03-28T23:30Z', 3)).toEqual([
      '2026-03-29T00:00Z', // 01:00 CET
      '2026-03-29T01:00Z', // 02:00 (missing) and 03:00 CEST
      '2026-03-29T02:00Z', // 04:00 CEST
    ]);
  });

  it('Berlin autumn: the repeated hour runs twice, once per real hour', () => {
    expect(runs({ intervaltype: 'HOURLY', schedule: '30' }, BERLIN, '2026-10-24T23:45Z', 4)).toEqual([
      '2026-10-25T00:30Z', // 02:30 CEST
      '2026-10-25T01:30Z', // 02:30 CET
      '2026-10-25T02:30Z', // 03:30 CET
      '2026-10-25T03:30Z',
    ]);
  });

  it('New York spring and autumn', () => {
    expect(runs({ intervaltype: 'HOURLY', schedule: '15' }, NEW_YORK, '2026-03-08T06:00Z', 3)).toEqual([
      '2026-03-08T06:15Z', // 01:15 EST
      '2026-03-08T07:00Z', // 02:15 does not exist: 03:00 EDT
      '2026-03-08T07:15Z', // 03:15 EDT
    ]);
    expect(runs({ intervaltype: 'HOURLY', schedule: '15' }, NEW_YORK, '2026-11-01T05:00Z', 3)).toEqual([
      '2026-11-01T05:15Z', // 01:15 EDT
      '2026-11-01T06:15Z', // 01:15 EST
      '2026-11-01T07:15Z', // 02:15 EST
    ]);
  });
});

describe('DAILY', () => {
  it('Berlin: 02:30 inside the spring gap runs at 03:00 CEST that day', () => {
    expect(runs({ intervaltype: 'DAILY', schedule: '30:02' }, BERLIN, '2026-03-27T12:00Z', 3)).toEqual([
      '2026-03-28T01:30Z', // 02:30 CET
      '2026-03-29T01:00Z', // 03:00 CEST
      '2026-03-30T00:30Z', // 02:30 CEST
    ]);
  });

  it('Berlin: 02:30 inside the repeated autumn hour runs once, at its first occurrence', () => {
    expect(runs({ intervaltype: 'DAILY', schedule: '30:02' }, BERLIN, '2026-10-24T12:00Z', 2)).toEqual([
      '2026-10-25T00:30Z', // 02:30 CEST, not again at 02:30 CET (01:30Z)
      '2026-10-26T01:30Z', // 02:30 CET
    ]);
  });

  it('New York: 02:30 in the spring gap, 01:30 in the repeated hour', () => {
    expect(runs({ intervaltype: 'DAILY', schedule: '30:02' }, NEW_YORK, '2026-03-07T00:00Z', 3)).toEqual([
      '2026-03-07T07:30Z', // 02:30 EST
      '2026-03-08T07:00Z', // 03:00 EDT
      '2026-03-09T06:30Z', // 02:30 EDT
    ]);
    expect(runs({ intervaltype: 'DAILY', schedule: '30:01' }, NEW_YORK, '2026-10-31T00:00Z', 3)).toEqual([
      '2026-10-31T05:30Z', // 01:30 EDT
      '2026-11-01T05:30Z', // 01:30 EDT, the first of two
      '2026-11-02T06:30Z', // 01:30 EST
    ]);
  });

  it('a time outside the changes keeps its wall-clock time across them', () => {
    expect(runs({ intervaltype: 'DAILY', schedule: '0:12' }, BERLIN, '2026-03-28T00:00Z', 2)).toEqual([
      '2026-03-28T11:00Z', // 12:00 CET
      '2026-03-29T10:00Z', // 12:00 CEST
    ]);
  });
});

describe('WEEKLY', () => {
  it('counts days as CloudStack does: 1 = Sunday, 2 = Monday, 7 = Saturday', () => {
    expect(runs({ intervaltype: 'WEEKLY', schedule: '0:0:2' }, NEW_YORK, '2026-03-04T00:00Z', 2)).toEqual([
      '2026-03-09T04:00Z', // Monday 00:00 EDT
      '2026-03-16T04:00Z',
    ]);
    expect(runs({ intervaltype: 'WEEKLY', schedule: '0:12:7' }, 'UTC', '2026-11-30T00:00Z', 1)).toEqual([
      '2026-12-05T12:00Z', // Saturday
    ]);
  });

  it('Berlin: Sunday 02:30 on both change days', () => {
    expect(runs({ intervaltype: 'WEEKLY', schedule: '30:02:1' }, BERLIN, '2026-03-22T00:00Z', 3)).toEqual([
      '2026-03-22T01:30Z', // 02:30 CET
      '2026-03-29T01:00Z', // gap: 03:00 CEST
      '2026-04-05T00:30Z', // 02:30 CEST
    ]);
    expect(runs({ intervaltype: 'WEEKLY', schedule: '30:02:1' }, BERLIN, '2026-10-20T00:00Z', 2)).toEqual([
      '2026-10-25T00:30Z', // first 02:30 only
      '2026-11-01T01:30Z', // 02:30 CET
    ]);
  });
});

describe('MONTHLY', () => {
  it('New York: the 8th at 02:30, which falls in the 8 March gap', () => {
    expect(runs({ intervaltype: 'MONTHLY', schedule: '30:02:08' }, NEW_YORK, '2026-02-01T00:00Z', 3)).toEqual(
      [
        '2026-02-08T07:30Z', // 02:30 EST
        '2026-03-08T07:00Z', // 03:00 EDT
        '2026-04-08T06:30Z', // 02:30 EDT
      ],
    );
  });

  it('Berlin: the 25th at 02:30, which falls in the repeated hour on 25 October', () => {
    expect(runs({ intervaltype: 'MONTHLY', schedule: '30:2:25' }, BERLIN, '2026-09-01T00:00Z', 3)).toEqual([
      '2026-09-25T00:30Z',
      '2026-10-25T00:30Z', // first occurrence only
      '2026-11-25T01:30Z',
    ]);
  });
});

describe('cron', () => {
  it('steps in the hour field', () => {
    expect(runs({ cron: '0 */4 * * *' }, BERLIN, '2026-11-30T12:00Z', 3)).toEqual([
      '2026-11-30T15:00Z', // 16:00 CET
      '2026-11-30T19:00Z',
      '2026-11-30T23:00Z', // 00:00 CET
    ]);
  });

  it('lists, ranges and range steps', () => {
    expect(runs({ cron: '15,45 9,17 * * *' }, 'UTC', '2026-11-30T09:20Z', 4)).toEqual([
      '2026-11-30T09:45Z',
      '2026-11-30T17:15Z',
      '2026-11-30T17:45Z',
      '2026-12-01T09:15Z',
    ]);
    expect(runs({ cron: '0 9-11 * * 1-5' }, 'UTC', '2026-11-27T10:30Z', 3)).toEqual([
      '2026-11-27T11:00Z', // Friday
      '2026-11-30T09:00Z', // Monday: the weekend is skipped
      '2026-11-30T10:00Z',
    ]);
    expect(runs({ cron: '10-50/20 * * * *' }, 'UTC', '2026-11-27T10:30Z', 3)).toEqual([
      '2026-11-27T10:50Z',
      '2026-11-27T11:10Z',
      '2026-11-27T11:30Z',
    ]);
  });

  it('with day-of-month and day-of-week both restricted, a day matching either runs', () => {
    expect(runs({ cron: '0 12 13 * 5' }, 'UTC', '2026-01-01T00:00Z', 4)).toEqual([
      '2026-01-02T12:00Z', // Friday
      '2026-01-09T12:00Z', // Friday
      '2026-01-13T12:00Z', // the 13th, a Tuesday
      '2026-01-16T12:00Z', // Friday
    ]);
  });

  it('with one day field *, only the other restricts', () => {
    expect(runs({ cron: '0 12 13 * *' }, 'UTC', '2026-01-01T00:00Z', 2)).toEqual([
      '2026-01-13T12:00Z',
      '2026-02-13T12:00Z',
    ]);
    expect(runs({ cron: '0 12 * * 5' }, 'UTC', '2026-01-01T00:00Z', 2)).toEqual([
      '2026-01-02T12:00Z',
      '2026-01-09T12:00Z',
    ]);
    expect(runs({ cron: '0 0 * * 7' }, 'UTC', '2026-11-30T00:00Z', 1)).toEqual(['2026-12-06T00:00Z']);
  });

  it('months restrict, and 29 February waits for a leap year (8 years across 2100)', () => {
    expect(runs({ cron: '0 6 1 jan,jul *' }, 'UTC', '2026-02-01T00:00Z', 2)).toEqual([
      '2026-07-01T06:00Z',
      '2027-01-01T06:00Z',
    ]);
    expect(runs({ cron: '0 0 29 2 *' }, 'UTC', '2096-03-01T00:00Z', 1)).toEqual(['2104-02-29T00:00Z']);
  });

  it('Berlin spring: every wall-clock time in the gap collapses onto 03:00 CEST, once', () => {
    expect(runs({ cron: '0,30 2,3 * * *' }, BERLIN, '2026-03-28T12:00Z', 3)).toEqual([
      '2026-03-29T01:00Z', // 02:00, 02:30 (missing) and 03:00 CEST
      '2026-03-29T01:30Z', // 03:30 CEST
      '2026-03-30T00:00Z', // 02:00 CEST next day
    ]);
  });

  it('New York spring: */15 loses no run and runs none twice', () => {
    expect(runs({ cron: '*/15 * * * *' }, NEW_YORK, '2026-03-08T06:40Z', 3)).toEqual([
      '2026-03-08T06:45Z', // 01:45 EST
      '2026-03-08T07:00Z', // 02:00-02:45 (missing) and 03:00 EDT
      '2026-03-08T07:15Z',
    ]);
  });

  it('Berlin autumn: fixed hours run the repeated hour once, hour * runs it twice', () => {
    expect(runs({ cron: '30 1-3 * * *' }, BERLIN, '2026-10-24T22:00Z', 3)).toEqual([
      '2026-10-24T23:30Z', // 01:30 CEST
      '2026-10-25T00:30Z', // 02:30 CEST, not 02:30 CET
      '2026-10-25T02:30Z', // 03:30 CET
    ]);
    expect(runs({ cron: '30 * * * *' }, BERLIN, '2026-10-25T00:00Z', 3)).toEqual([
      '2026-10-25T00:30Z',
      '2026-10-25T01:30Z',
      '2026-10-25T02:30Z',
    ]);
  });

  it('New York autumn with a fixed hour 1', () => {
    expect(runs({ cron: '0 1 * * *' }, NEW_YORK, '2026-10-31T12:00Z', 2)).toEqual([
      '2026-11-01T05:00Z', // 01:00 EDT, first of two
      '2026-11-02T06:00Z', // 01:00 EST
    ]);
  });
});

describe('latestSlotAtOrBefore', () => {
  it('returns just the latest slot after a long gap, not the missed ones', () => {
    expect(latest({ intervaltype: 'DAILY', schedule: '30:02' }, BERLIN, '2026-11-10T12:00Z')).toBe(
      '2026-11-10T01:30Z',
    );
    expect(latest({ intervaltype: 'HOURLY', schedule: '5' }, BERLIN, '2026-11-10T12:00Z')).toBe(
      '2026-11-10T11:05Z',
    );
    expect(latest({ intervaltype: 'MONTHLY', schedule: '0:0:1' }, 'UTC', '2026-11-30T23:59Z')).toBe(
      '2026-11-01T00:00Z',
    );
  });

  it('includes a slot exactly at the instant', () => {
    expect(latest({ intervaltype: 'DAILY', schedule: '0:12' }, 'UTC', '2026-11-30T12:00Z')).toBe(
      '2026-11-30T12:00Z',
    );
  });

  it('agrees with the DST rules: gap slot, first and second occurrences', () => {
    const daily = { intervaltype: 'DAILY', schedule: '30:02' };
    expect(latest(daily, BERLIN, '2026-03-29T01:00Z')).toBe('2026-03-29T01:00Z');
    expect(latest(daily, BERLIN, '2026-03-29T00:59Z')).toBe('2026-03-28T01:30Z');
    expect(latest(daily, BERLIN, '2026-10-25T01:45Z')).toBe('2026-10-25T00:30Z');
    expect(latest({ intervaltype: 'HOURLY', schedule: '30' }, BERLIN, '2026-10-25T01:45Z')).toBe(
      '2026-10-25T01:30Z',
    );
  });

  it(`looks back ${SLOT_LOOK_BACK_DAYS} days at most`, () => {
    const leapDay = { cron: '0 0 29 2 *' };
    expect(latest(leapDay, 'UTC', '2025-03-01T00:00Z')).toBe('2024-02-29T00:00Z');
    expect(latest(leapDay, 'UTC', '2027-06-01T00:00Z')).toBeUndefined();
  });
});

describe('with fake timers: "now" handed in from the clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    [BERLIN, '30:02', '2026-03-29T00:45Z', '2026-03-29T01:00Z', '2026-03-28T01:30Z'],
    [BERLIN, '30:02', '2026-10-25T01:00Z', '2026-10-26T01:30Z', '2026-10-25T00:30Z'],
    [NEW_YORK, '30:02', '2026-03-08T06:59Z', '2026-03-08T07:00Z', '2026-03-07T07:30Z'],
    [NEW_YORK, '30:01', '2026-11-01T06:00Z', '2026-11-02T06:30Z', '2026-11-01T05:30Z'],
  ])('%s DAILY %s at %s: next %s, last %s', (tz, schedule, now, next, last) => {
    vi.useFakeTimers();
    vi.setSystemTime(at(now));
    const spec = parseSchedule({ intervaltype: 'DAILY', schedule });
    expect(iso(nextSlotAfter(spec, tz, Date.now()))).toBe(next);
    expect(iso(latestSlotAtOrBefore(spec, tz, Date.now()) ?? 0)).toBe(last);
  });
});
