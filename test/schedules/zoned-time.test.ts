import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseSchedule } from '../../src/schedules/schedule-spec.ts';
import { latestSlotAtOrBefore, nextSlotAfter } from '../../src/schedules/slot-calendar.ts';
import { isoWeekOf, offsetAt, wallTimeAt } from '../../src/schedules/zoned-time.ts';

describe('zoned time', () => {
  it('reads wall times and offsets on both sides of a change', () => {
    expect(wallTimeAt(Date.parse('2026-03-29T00:59:59Z'), 'Europe/Berlin')).toEqual({
      year: 2026,
      month: 3,
      day: 29,
      hour: 1,
      minute: 59,
      second: 59,
    });
    expect(wallTimeAt(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toMatchObject({
      hour: 3,
      minute: 0,
    });
    expect(offsetAt(Date.parse('2026-03-29T00:59:59Z'), 'Europe/Berlin')).toBe(3_600_000);
    expect(offsetAt(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetAt(Date.parse('2026-11-30T12:00:00Z'), 'Pacific/Chatham')).toBe((13 * 60 + 45) * 60_000);
  });

  it.each([
    [2020, 12, 31, 2020, 53],
    [2021, 1, 3, 2020, 53],
    [2021, 1, 4, 2021, 1],
    [2024, 12, 30, 2025, 1],
    [2026, 11, 30, 2026, 49],
    [2027, 1, 1, 2026, 53],
  ])('%i-%i-%i is ISO week %i-W%i', (year, month, day, weekYear, week) => {
    expect(isoWeekOf({ year, month, day })).toEqual({ year: weekYear, week });
  });
});

describe('cost: the calendar jumps by fields, it does not scan minutes', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** How many times Intl formats a time while `fn` runs. */
  function intlCalls(fn: () => unknown): number {
    // `format` is an accessor returning a bound function (ECMA-402); count the accesses.
    const proto = Intl.DateTimeFormat.prototype as unknown as { format: unknown };
    const getter = vi.spyOn(proto, 'format', 'get');
    const parts = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    fn();
    return getter.mock.calls.length + parts.mock.calls.length;
  }

  it('finds a 29 February eight years away with a handful of Intl calls', () => {
    const spec = parseSchedule({ cron: '0 0 29 2 *' });
    expect(
      intlCalls(() => nextSlotAfter(spec, 'Europe/Paris', Date.parse('2096-03-01T00:00Z'))),
    ).toBeLessThan(10);
  });

  it('looks back 400 days for a weekly slot, or gives up, with few calls', () => {
    const weekly = parseSchedule({ intervaltype: 'WEEKLY', schedule: '0:3:4' });
    expect(
      intlCalls(() => latestSlotAtOrBefore(weekly, 'Asia/Tokyo', Date.parse('2031-06-01T00:00Z'))),
    ).toBeLessThan(10);
    const leapDay = parseSchedule({ cron: '0 0 29 2 *' });
    expect(
      intlCalls(() => latestSlotAtOrBefore(leapDay, 'Asia/Tokyo', Date.parse('2031-06-01T00:00Z'))),
    ).toBeLessThan(10);
  });

  it('crosses a DST change with a bounded number of calls, even every minute', () => {
    const everyMinute = parseSchedule({ cron: '* * * * *' });
    const at = Date.parse('2033-03-27T00:30Z'); // Berlin springs forward at 01:00Z that day
    const calls = intlCalls(() => nextSlotAfter(everyMinute, 'Europe/Berlin', at));
    expect(calls).toBeGreaterThan(0); // the spy sees the calendar's calls
    expect(calls).toBeLessThan(200); // a minute-by-minute search would need thousands
  });
});
