/**
 * CloudStack's wire date format, `yyyy-MM-dd'T'HH:mm:ssZ` (Java SimpleDateFormat), e.g.
 * `2024-01-02T06:44:43+0000`. Used for response dates and for the `expires` signing parameter.
 */

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Formats epoch milliseconds in UTC. Seconds are truncated, as SimpleDateFormat does. */
export function formatCloudStackDate(ms: number): string {
  const d = new Date(ms);
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return `${date}T${time}+0000`;
}

// Zone forms: RFC 822 `+0000` (what SimpleDateFormat's `Z` prints), ISO `+00:00`, and a literal `Z`
// (CloudStack's DateUtil.parseTZDateString falls back to accepting it).
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Parses the wire format strictly (no SimpleDateFormat leniency: month 13 is an error, not next year).
 * Returns null when the text is not a valid date.
 */
export function parseCloudStackDate(text: string): Date | null {
  const m = DATE_PATTERN.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return null;
  if (day < 1 || day > utcDate(year, month, 0).getUTCDate()) return null;
  const offsetMinutes = parseZoneOffset(m[7] ?? '');
  if (offsetMinutes === null) return null;
  const local = utcDate(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  return new Date(local.getTime() - offsetMinutes * 60_000);
}

/** setUTCFullYear rather than Date.UTC, which would map years 0-99 to 1900-1999. */
function utcDate(year: number, monthIndex: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  return d;
}

function parseZoneOffset(zone: string): number | null {
  if (zone === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2, 4));
  if (hours > 23 || minutes > 59) return null;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/** A date a caller filters by: the instant it names, and whether it named a whole day. */
export interface RequestDate {
  readonly ms: number;
  /** `yyyy-MM-dd` alone: the day, from 00:00:00 UTC (an end date then covers the whole day). */
  readonly dayOnly: boolean;
}

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/**
 * CloudStack's DATE parameters (ParamProcessWorker): `yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss`, and the
 * wire format `yyyy-MM-dd'T'HH:mm:ssZ`; times without a zone are UTC. Strict: null for anything
 * else (CloudStack then answers 431, where JavaScript's Date.parse would guess).
 */
export function parseRequestDate(text: string): RequestDate | null {
  const day = DAY_PATTERN.exec(text);
  if (day !== null) {
    const parsed = parseCloudStackDate(`${text}T00:00:00Z`);
    return parsed === null ? null : { ms: parsed.getTime(), dayOnly: true };
  }
  const dayTime = DAY_TIME_PATTERN.exec(text);
  const parsed = parseCloudStackDate(dayTime !== null ? `${text.replace(' ', 'T')}Z` : text);
  return parsed === null ? null : { ms: parsed.getTime(), dayOnly: false };
}
