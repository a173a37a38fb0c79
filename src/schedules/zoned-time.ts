/**
 * Wall-clock arithmetic in an IANA timezone with nothing but `Intl` (no dependency). Two kinds of
 * numbers appear here: instants (epoch milliseconds, UTC) and *wall* values, the local date and time
 * written as if it were UTC (`Date.UTC(year, month - 1, day, hour, minute)`), so that calendar
 * arithmetic on wall values needs no timezone at all. `offsetAt` links the two:
 * `wall = instant + offsetAt(instant)`.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** A local date and time, month 1–12. */
export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: building an Intl.DateTimeFormat costs far more than using one. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** `format` is several times faster than `formatToParts`; en-US prints `3/29/2026, 03:00:00`. */
const EN_US_DATE_TIME = /^(\d+)\/(\d+)\/(\d+),? (\d+):(\d+):(\d+)$/;

/** The local date and time of an instant in a zone. */
export function wallTimeAt(instantMs: number, timeZone: string): WallTime {
  const formatter = formatterFor(timeZone);
  const m = EN_US_DATE_TIME.exec(formatter.format(instantMs));
  if (m !== null) {
    const [month, day, year, hour, minute, second] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return { year, month, day, hour, minute, second };
  }
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatter.formatToParts(instantMs)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  return fields;
}

/** The wall value (local time written as UTC) of a wall time. */
export function wallValue(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The zone's UTC offset at an instant, in ms (positive east of Greenwich). */
export function offsetAt(instantMs: number, timeZone: string): number {
  const wholeSecond = Math.floor(instantMs / 1000) * 1000;
  return wallValue(wallTimeAt(wholeSecond, timeZone)) - wholeSecond;
}

/** True for a zone name Intl knows (IANA names and their aliases, e.g. `Europe/Berlin`, `UTC`). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** A civil date: year, month 1–12, day 1–31. */
export interface CivilDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** The civil date of a wall value (its UTC fields). */
export function civilDateOf(wall: number): CivilDate {
  const d = new Date(wall);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** Day of week of a wall value: 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
export function weekdayOf(wall: number): number {
  const days = Math.floor(wall / DAY_MS);
  return (((days + 4) % 7) + 7) % 7;
}

/** Days in a month of the proleptic Gregorian calendar (month 1–12). */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * ISO 8601 week of a civil date: weeks start on Monday and week 1 holds the year's first Thursday,
 * so the week's year can differ from the calendar year near New Year (what strftime's %G/%V give).
 */
export function isoWeekOf(date: CivilDate): { readonly year: number; readonly week: number } {
  const wall = Date.UTC(date.year, date.month - 1, date.day);
  const isoWeekday = ((weekdayOf(wall) + 6) % 7) + 1; // Monday 1 … Sunday 7
  const thursday = wall + (4 - isoWeekday) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1;
  return { year, week };
}
