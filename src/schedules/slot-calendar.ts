/**
 * When a schedule's slots fall, as instants, in the policy's IANA timezone.
 *
 * Why not a cron library: what a schedule does on the two daylight-saving days a year is the part
 * users complain about (a nightly job run twice, or not at all), and libraries disagree on it and
 * change it between versions. The rules below are ours, documented in docs/schedules.md and pinned
 * by tests; the calendar is a hundred lines over `Intl`, which every Node ships with its tz data.
 *
 * The slot set. A schedule names wall-clock times (local date + hour + minute). Each wall-clock time
 * of a matching day maps to instants thus:
 * - it exists once: that instant;
 * - it does not exist (spring forward, e.g. 02:30 in Europe/Berlin on the last Sunday of March):
 *   the first instant after the gap (the transition, 03:00 local), once;
 * - it exists twice (autumn back, e.g. 02:30 on the last Sunday of October): its first occurrence
 *   only, for schedules with fixed hours (DAILY, WEEKLY, MONTHLY, cron with an hour list); for
 *   schedules that run every hour (HOURLY, cron whose hour field covers all 24 hours) both
 *   occurrences, since those follow real hours and the repeated hour is a real hour too.
 * The slots are the set of these instants: several wall-clock times that land on one instant (all of
 * a gap, or a gap time and the transition time itself) run once. So slots strictly increase, none
 * repeats, and no wall-clock slot is lost.
 *
 * Cost: candidate days are found by pure calendar arithmetic (months that cannot match are skipped
 * whole); only a matching day asks Intl for the zone's offsets (2 calls, about 30 more on a
 * transition day), then its hours and minutes are plain arithmetic. Both searches are bounded.
 *
 * Assumption: a zone changes its offset at most once within any 76 hours (true of the tz database
 * for every zone since offsets were standardised).
 */
import type { ScheduleSpec } from './schedule-types.ts';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  civilDateOf,
  offsetAt,
  wallTimeAt,
  weekdayOf,
  type CivilDate,
} from './zoned-time.ts';

/** How far back latestSlotAtOrBefore looks (more than a year, so yearly-ish crons are found). */
export const SLOT_LOOK_BACK_DAYS = 400;
/** How far ahead nextSlotAfter looks: a 29 February cron can wait 8 years (2096 → 2104). */
export const SLOT_LOOK_AHEAD_DAYS = 366 * 9;

/** How far from a day's wall midnight its instants can lie: offsets span −12 h … +14 h. */
const ZONE_WINDOW_MS = 26 * HOUR_MS;

/** A schedule reduced to what the calendar needs. */
interface SlotPlan {
  readonly months: ReadonlySet<number>;
  matchesDay(date: CivilDate, weekday: number): boolean;
  /** Minutes after local midnight, ascending. */
  readonly times: readonly number[];
  /** Runs every real hour: both occurrences of a repeated wall-clock hour count. */
  readonly everyHour: boolean;
}

const ALL_MONTHS: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

function planOf(spec: ScheduleSpec): SlotPlan {
  if (spec.kind === 'cron') return cronPlan(spec);
  const hours = spec.intervalType === 'HOURLY' ? Array.from({ length: 24 }, (_, h) => h) : [spec.hour ?? 0];
  const times = hours.map((h) => h * 60 + spec.minute);
  const everyHour = spec.intervalType === 'HOURLY';
  switch (spec.intervalType) {
    case 'HOURLY':
    case 'DAILY':
      return { months: ALL_MONTHS, times, everyHour, matchesDay: () => true };
    case 'WEEKLY':
      // CloudStack counts 1 = Sunday … 7 = Saturday (java.util.Calendar).
      return { months: ALL_MONTHS, times, everyHour, matchesDay: (_d, wd) => wd + 1 === spec.dayOfWeek };
    case 'MONTHLY':
      return { months: ALL_MONTHS, times, everyHour, matchesDay: (d) => d.day === spec.dayOfMonth };
  }
}

function cronPlan(spec: Extract<ScheduleSpec, { kind: 'cron' }>): SlotPlan {
  const doms = new Set(spec.dayOfMonth.values);
  const dows = new Set(spec.dayOfWeek.values.map((v) => v % 7));
  // cron's rule: with both day fields restricted a day matches if EITHER does; else both must.
  const eitherDay = !spec.dayOfMonth.any && !spec.dayOfWeek.any;
  const times: number[] = [];
  for (const h of [...spec.hour.values].sort((a, b) => a - b)) {
    for (const m of [...spec.minute.values].sort((a, b) => a - b)) times.push(h * 60 + m);
  }
  return {
    months: new Set(spec.month.values),
    times,
    everyHour: new Set(spec.hour.values).size === 24,
    matchesDay: (d, wd) => (eitherDay ? doms.has(d.day) || dows.has(wd) : doms.has(d.day) && dows.has(wd)),
  };
}

/** The zone's offsets around one day, and the instant it changes between them, if it does. */
interface DayZone {
  readonly before: number;
  readonly after: number;
  readonly transition: number | undefined;
}

/** Zones of recently asked days: the runner and list calls ask about the same few days again. */
const zoneCache = new Map<string, DayZone>();
const ZONE_CACHE_SIZE = 4096;

function zoneAroundDay(dayWall: number, timeZone: string): DayZone {
  const key = `${timeZone} ${dayWall}`;
  let zone = zoneCache.get(key);
  if (zone === undefined) {
    zone = findZoneAroundDay(dayWall, timeZone);
    if (zoneCache.size >= ZONE_CACHE_SIZE) zoneCache.clear();
    zoneCache.set(key, zone);
  }
  return zone;
}

function findZoneAroundDay(dayWall: number, timeZone: string): DayZone {
  const from = dayWall - ZONE_WINDOW_MS;
  const to = dayWall + DAY_MS + ZONE_WINDOW_MS;
  const before = offsetAt(from, timeZone);
  const after = offsetAt(to, timeZone);
  if (before === after) return { before, after, transition: undefined };
  // Bisect to the exact millisecond: offsetAt(lo) === before, offsetAt(hi) !== before.
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return { before, after, transition: hi };
}

/** Instants at which a wall value occurs: one, two (repeated hour, in order) or none (gap). */
function occurrences(wall: number, zone: DayZone): number[] {
  if (zone.transition === undefined) return [wall - zone.before];
  const early = wall - zone.before;
  const late = wall - zone.after;
  const found: number[] = [];
  if (early < zone.transition) found.push(early);
  if (late >= zone.transition) found.push(late);
  return found;
}

/** All slots of one local day around a transition, ascending, without repeats. */
function slotsOfTransitionDay(plan: SlotPlan, dayWall: number, zone: DayZone): number[] {
  const slots: number[] = [];
  for (const minutes of plan.times) {
    const found = occurrences(dayWall + minutes * MINUTE_MS, zone);
    if (found.length === 0) {
      // In the gap: the first instant after it (the transition, on a whole minute).
      slots.push(Math.ceil((zone.transition ?? 0) / MINUTE_MS) * MINUTE_MS);
    } else if (plan.everyHour) {
      slots.push(...found);
    } else {
      slots.push(found[0] ?? 0);
    }
  }
  slots.sort((a, b) => a - b);
  return slots.filter((s, i) => i === 0 || s !== slots[i - 1]);
}

/** Index of the first of the ascending `times` for which `isPast` holds (times.length if none). */
function firstIndexWhere(times: readonly number[], isPast: (minutes: number) => boolean): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isPast(times[mid] ?? 0)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The day's first slot after `afterMs`; a day with one offset needs no list, only a search. */
function firstSlotOfDayAfter(
  plan: SlotPlan,
  dayWall: number,
  timeZone: string,
  afterMs: number,
): number | undefined {
  const zone = zoneAroundDay(dayWall, timeZone);
  if (zone.transition !== undefined)
    return slotsOfTransitionDay(plan, dayWall, zone).find((s) => s > afterMs);
  const toSlot = (minutes: number): number => dayWall + minutes * MINUTE_MS - zone.before;
  const minutes = plan.times[firstIndexWhere(plan.times, (m) => toSlot(m) > afterMs)];
  return minutes === undefined ? undefined : toSlot(minutes);
}

/** The day's last slot at or before `atMs`. */
function lastSlotOfDayAtOrBefore(
  plan: SlotPlan,
  dayWall: number,
  timeZone: string,
  atMs: number,
): number | undefined {
  const zone = zoneAroundDay(dayWall, timeZone);
  if (zone.transition !== undefined) {
    return slotsOfTransitionDay(plan, dayWall, zone).findLast((s) => s <= atMs);
  }
  const toSlot = (minutes: number): number => dayWall + minutes * MINUTE_MS - zone.before;
  const minutes = plan.times[firstIndexWhere(plan.times, (m) => toSlot(m) > atMs) - 1];
  return minutes === undefined ? undefined : toSlot(minutes);
}

function dayMatches(plan: SlotPlan, dayWall: number): boolean {
  const date = civilDateOf(dayWall);
  return plan.months.has(date.month) && plan.matchesDay(date, weekdayOf(dayWall));
}

/** Wall midnight of the local day an instant falls on. */
function localDayWall(instantMs: number, timeZone: string): number {
  const w = wallTimeAt(instantMs, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day);
}

/** The first day at or after `dayWall` in a month the plan can match (a whole month at a time). */
function skipToMatchingMonth(plan: SlotPlan, dayWall: number): number {
  const date = civilDateOf(dayWall);
  if (plan.months.has(date.month)) return dayWall;
  return Date.UTC(date.year, date.month, 1);
}

/** The last day at or before `dayWall` in a month the plan can match. */
function skipBackToMatchingMonth(plan: SlotPlan, dayWall: number): number {
  const date = civilDateOf(dayWall);
  if (plan.months.has(date.month)) return dayWall;
  return Date.UTC(date.year, date.month - 1, 1) - DAY_MS;
}

/**
 * The first slot strictly after `afterMs` (epoch ms). Throws when none comes within
 * SLOT_LOOK_AHEAD_DAYS, which a parsed schedule never does (parseSchedule refuses a cron that cannot
 * match).
 */
export function nextSlotAfter(spec: ScheduleSpec, timeZone: string, afterMs: number): number {
  const plan = planOf(spec);
  // From the day before: a slot of that local day can still lie after afterMs only in odd zones,
  // but starting there costs one day and keeps the search obviously complete.
  const first = localDayWall(afterMs, timeZone) - DAY_MS;
  const limit = first + SLOT_LOOK_AHEAD_DAYS * DAY_MS;
  for (let day = skipToMatchingMonth(plan, first); day <= limit;) {
    if (dayMatches(plan, day)) {
      const slot = firstSlotOfDayAfter(plan, day, timeZone, afterMs);
      if (slot !== undefined) return slot;
    }
    day = skipToMatchingMonth(plan, day + DAY_MS);
  }
  throw new Error(`no slot of ${JSON.stringify(spec)} within ${SLOT_LOOK_AHEAD_DAYS} days`);
}

/**
 * The most recent slot at or before `atMs`, looking back at most SLOT_LOOK_BACK_DAYS; undefined if
 * none. After downtime the runner runs this one slot once, not every slot it missed.
 */
export function latestSlotAtOrBefore(spec: ScheduleSpec, timeZone: string, atMs: number): number | undefined {
  const plan = planOf(spec);
  const first = localDayWall(atMs, timeZone) + DAY_MS;
  const limit = first - (SLOT_LOOK_BACK_DAYS + 1) * DAY_MS;
  for (let day = skipBackToMatchingMonth(plan, first); day >= limit;) {
    if (dayMatches(plan, day)) {
      const latest = lastSlotOfDayAtOrBefore(plan, day, timeZone, atMs);
      if (latest !== undefined) return atMs - latest <= SLOT_LOOK_BACK_DAYS * DAY_MS ? latest : undefined;
    }
    day = skipBackToMatchingMonth(plan, day - DAY_MS);
  }
  return undefined;
}
