/**
 * Properties of the slot calendar across random schedules, instants and zones (DST zones among
 * them), and a brute-force oracle: near real DST changes, the next slot equals the first minute a
 * minute-by-minute scan of instants finds by the documented rules, written here from the instant's
 * side (the calendar works from the wall clock's side).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../src/schedules/schedule-spec.ts';
import type { ScheduleSpec } from '../../src/schedules/schedule-types.ts';
import { latestSlotAtOrBefore, nextSlotAfter } from '../../src/schedules/slot-calendar.ts';

const MINUTE = 60_000;

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe', // 30-minute DST shift
  'America/Santiago', // changes at midnight
  'Pacific/Chatham', // +12:45 / +13:45
  'America/St_Johns', // −3:30 with DST
  'Asia/Kathmandu', // +5:45, no DST
] as const;

const two = (n: number): string => String(n).padStart(2, '0');

/** Random schedules: every CloudStack form, and crons built from typical fields. */
const scheduleArb: fc.Arbitrary<ScheduleSpec> = fc.oneof(
  fc.integer({ min: 0, max: 59 }).map((m) => parseSchedule({ intervaltype: 'HOURLY', schedule: String(m) })),
  fc
    .tuple(fc.integer({ min: 0, max: 59 }), fc.constantFrom(0, 1, 2, 3, 12, 23))
    .map(([m, h]) => parseSchedule({ intervaltype: 'DAILY', schedule: `${two(m)}:${two(h)}` })),
  fc
    .tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 1, max: 7 }))
    .map(([m, h, d]) => parseSchedule({ intervaltype: 'WEEKLY', schedule: `${m}:${h}:${d}` })),
  fc
    .tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 1, max: 28 }))
    .map(([m, h, d]) => parseSchedule({ intervaltype: 'MONTHLY', schedule: `${m}:${h}:${d}` })),
  fc
    .tuple(
      fc.constantFrom('*/15', '0', '30', '0,30', '5-20/5', '*', '59'),
      fc.constantFrom('*', '2', '0-3', '*/2', '1,2,23', '0'),
      fc.constantFrom('*', '1', '13', '1-7', '29', '31'),
      fc.constantFrom('*', '3,10', '1-6', '*/2', '*'),
      fc.constantFrom('*', '0', '5', '1-5', '7'),
    )
    .map((fields) => parseSchedule({ cron: fields.join(' ') })),
);

describe('slot calendar properties', () => {
  it('slots strictly increase, fall on whole minutes, and latest/next agree', () => {
    fc.assert(
      fc.property(
        scheduleArb,
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.UTC(2000, 0, 1) / MINUTE, max: Date.UTC(2050, 0, 1) / MINUTE }),
        (spec, tz, minute) => {
          const t = minute * MINUTE;
          const first = nextSlotAfter(spec, tz, t);
          const second = nextSlotAfter(spec, tz, first);
          expect(first).toBeGreaterThan(t);
          expect(second).toBeGreaterThan(first);
          expect(first % MINUTE).toBe(0);
          expect(latestSlotAtOrBefore(spec, tz, first)).toBe(first);
          const last = latestSlotAtOrBefore(spec, tz, t);
          if (last !== undefined) {
            expect(last).toBeLessThanOrEqual(t);
            // Nothing lies between the latest slot and the next: the runner cannot skip or repeat one.
            expect(nextSlotAfter(spec, tz, last)).toBe(first);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---- The oracle ------------------------------------------------------------------------------

interface Wall {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

const oracleFormatters = new Map<string, Intl.DateTimeFormat>();

/** Local time by formatToParts in sv-SE: written independently of src/schedules/zoned-time.ts. */
function wallOf(instant: number, tz: string): Wall {
  let f = oracleFormatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('sv-SE', {
      timeZone: tz,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    oracleFormatters.set(tz, f);
  }
  const parts = f.formatToParts(instant);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
  };
}

const asUtc = (w: Wall): number => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
const sameWall = (a: Wall, b: Wall): boolean => asUtc(a) === asUtc(b);

function wallMatches(spec: ScheduleSpec, w: Wall): boolean {
  const weekday = new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay();
  if (spec.kind === 'interval') {
    if (w.minute !== spec.minute) return false;
    if (spec.intervalType === 'HOURLY') return true;
    if (w.hour !== spec.hour) return false;
    if (spec.intervalType === 'WEEKLY') return weekday + 1 === spec.dayOfWeek;
    if (spec.intervalType === 'MONTHLY') return w.day === spec.dayOfMonth;
    return true;
  }
  const has = (field: { values: readonly number[] }, v: number): boolean => field.values.includes(v);
  if (!has(spec.minute, w.minute) || !has(spec.hour, w.hour) || !has(spec.month, w.month)) return false;
  const dom = has(spec.dayOfMonth, w.day);
  const dow = has(spec.dayOfWeek, weekday);
  return !spec.dayOfMonth.any && !spec.dayOfWeek.any ? dom || dow : dom && dow;
}

const runsEveryHour = (spec: ScheduleSpec): boolean =>
  spec.kind === 'interval' ? spec.intervalType === 'HOURLY' : new Set(spec.hour.values).size === 24;

/**
 * Is instant u a slot? Its wall time matches (for fixed-hour schedules only at that wall time's
 * first occurrence), or u is the first instant after a gap one of whose wall times matches.
 */
function isSlotByScan(spec: ScheduleSpec, tz: string, u: number, wall: (i: number) => Wall): boolean {
  const w = wall(u);
  if (wallMatches(spec, w)) {
    const repeated = [30, 60, 90, 120].some((d) => sameWall(wall(u - d * MINUTE), w));
    if (!repeated || runsEveryHour(spec)) return true;
  }
  const jump = asUtc(w) - asUtc(wall(u - MINUTE)) - MINUTE; // > 0: the clock skipped that much
  for (let skipped = MINUTE; skipped <= jump; skipped += MINUTE) {
    const gapWall = new Date(asUtc(w) - skipped);
    const g = {
      year: gapWall.getUTCFullYear(),
      month: gapWall.getUTCMonth() + 1,
      day: gapWall.getUTCDate(),
      hour: gapWall.getUTCHours(),
      minute: gapWall.getUTCMinutes(),
    };
    if (wallMatches(spec, g)) return true;
  }
  return false;
}

/** Instants where a zone's offset changes during a year, to the minute (by scanning). */
function changesIn(tz: string, year: number): number[] {
  const offset = (u: number): number => asUtc(wallOf(u, tz)) - u;
  const found: number[] = [];
  for (let day = Date.UTC(year, 0, 1); day < Date.UTC(year + 1, 0, 1); day += 6 * 3_600_000) {
    const next = day + 6 * 3_600_000;
    if (offset(day) === offset(next)) continue;
    let u = day;
    while (offset(u + MINUTE) === offset(day)) u += MINUTE;
    found.push(u + MINUTE);
  }
  return found;
}

const SCAN_MINUTES = 27 * 60;

describe('slot calendar against a minute-by-minute scan near DST changes', () => {
  const changes = ZONES.filter((z) => !['UTC', 'Asia/Kathmandu'].includes(z)).flatMap((tz) =>
    [2026, 2031].flatMap((year) => changesIn(tz, year).map((at) => ({ tz, at }))),
  );

  it('found the changes it scans around', () => {
    expect(changes.length).toBeGreaterThanOrEqual(20);
  });

  it('nextSlotAfter is the first instant the scan accepts', () => {
    fc.assert(
      fc.property(
        scheduleArb,
        fc.constantFrom(...changes),
        fc.integer({ min: -30 * 60, max: 6 * 60 }),
        (spec, change, shift) => {
          const t = change.at + shift * MINUTE;
          const walls = new Map<number, Wall>();
          const wall = (u: number): Wall => {
            let w = walls.get(u);
            if (w === undefined) walls.set(u, (w = wallOf(u, change.tz)));
            return w;
          };
          let expected: number | undefined;
          for (let i = 1; i <= SCAN_MINUTES && expected === undefined; i++) {
            if (isSlotByScan(spec, change.tz, t + i * MINUTE, wall)) expected = t + i * MINUTE;
          }
          const next = nextSlotAfter(spec, change.tz, t);
          if (expected === undefined) expect(next).toBeGreaterThan(t + SCAN_MINUTES * MINUTE);
          else expect(new Date(next).toISOString()).toBe(new Date(expected).toISOString());
        },
      ),
      { numRuns: 100 },
    );
  });
});
