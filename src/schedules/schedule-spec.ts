/**
 * Parses a policy's schedule: CloudStack's createSnapshotPolicy forms (`intervaltype` + `schedule`)
 * or vmsnap's `cron` extension, into a ScheduleSpec. Bad input is CloudStack's 431
 * InvalidParameterValueException, worded as CloudStack words it where it has a message
 * (SnapshotManagerImpl.createPolicy: "Unsupported interval type X", "Invalid schedule: X for
 * interval type: Y"), with what is wrong appended.
 */
import { InvalidParameterError } from '../core/errors.ts';
import type { CronField, IntervalType, ScheduleSpec } from './schedule-types.ts';
import { daysInMonth, isKnownTimeZone } from './zoned-time.ts';

/** The request parameters a schedule comes from. */
export interface ScheduleInput {
  readonly intervaltype?: string | undefined;
  readonly schedule?: string | undefined;
  readonly cron?: string | undefined;
}

const INTERVAL_TYPES: readonly IntervalType[] = ['HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY'];

/** CloudStack's schedule form per interval type (D: day of week 1–7, DD: day of month 1–28). */
const EXPECTED_FORM: Readonly<Record<IntervalType, string>> = {
  HOURLY: 'MM',
  DAILY: 'MM:HH',
  WEEKLY: 'MM:HH:D',
  MONTHLY: 'MM:HH:DD',
};

/** Absent and empty parameters are the same to CloudStack. */
function given(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/** Exactly one of `cron` or `intervaltype` + `schedule`. */
export function parseSchedule(input: ScheduleInput): ScheduleSpec {
  const hasCron = given(input.cron);
  const hasInterval = given(input.intervaltype) || given(input.schedule);
  if (hasCron && hasInterval) {
    throw new InvalidParameterError(
      'Specify either cron or intervaltype and schedule, not both ' +
        `(cron: ${input.cron}, intervaltype: ${input.intervaltype ?? ''}, schedule: ${input.schedule ?? ''})`,
    );
  }
  if (hasCron) return parseCron(input.cron ?? '');
  if (!hasInterval) {
    throw new InvalidParameterError('Either cron or intervaltype and schedule must be specified');
  }
  return parseInterval(input.intervaltype, input.schedule);
}

function parseIntervalType(text: string | undefined): IntervalType {
  if (!given(text)) {
    throw new InvalidParameterError('Missing parameter intervaltype: a schedule needs an intervaltype');
  }
  const upper = text.trim().toUpperCase();
  const type = INTERVAL_TYPES.find((t) => t === upper);
  if (type === undefined) {
    throw new InvalidParameterError(
      `Unsupported interval type ${text} (intervaltype must be one of ${INTERVAL_TYPES.join(', ')})`,
    );
  }
  return type;
}

/** `MM`, `MM:HH`, `MM:HH:D` (1–7, 1 = Sunday) or `MM:HH:DD` (1–28), as CloudStack's DateUtil reads them. */
function parseInterval(typeText: string | undefined, schedule: string | undefined): ScheduleSpec {
  const intervalType = parseIntervalType(typeText);
  if (!given(schedule)) {
    throw new InvalidParameterError(
      `Missing parameter schedule: intervaltype ${intervalType} needs a schedule (${EXPECTED_FORM[intervalType]})`,
    );
  }
  const text = schedule.trim();
  const invalid = (why: string): InvalidParameterError =>
    new InvalidParameterError(`Invalid schedule: ${schedule} for interval type: ${typeText} (${why})`);
  const expected = EXPECTED_FORM[intervalType];
  const parts = text.split(':');
  if (parts.length !== expected.split(':').length) throw invalid(`expected ${expected}`);
  const number = (index: number, name: string, min: number, max: number): number => {
    const part = parts[index] ?? '';
    const value = /^\d{1,2}$/.test(part) ? Number(part) : NaN;
    if (!(value >= min && value <= max)) throw invalid(`${name} ${part} is not in ${min}-${max}`);
    return value;
  };
  const minute = number(0, 'minute', 0, 59);
  const base = { kind: 'interval', intervalType, schedule: text, minute } as const;
  switch (intervalType) {
    case 'HOURLY':
      return base;
    case 'DAILY':
      return { ...base, hour: number(1, 'hour', 0, 23) };
    case 'WEEKLY':
      return { ...base, hour: number(1, 'hour', 0, 23), dayOfWeek: number(2, 'day of week', 1, 7) };
    case 'MONTHLY':
      // CloudStack: "Day should be less than 28" (later days do not occur every month).
      return { ...base, hour: number(1, 'hour', 0, 23), dayOfMonth: number(2, 'day of month', 1, 28) };
  }
}

interface CronFieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const CRON_FIELDS: readonly CronFieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day-of-week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** Five fields: minute hour day-of-month month day-of-week, with `*`, `a,b`, `a-b`, `*\/n`, `a-b/n`. */
function parseCron(cron: string): ScheduleSpec {
  const expression = cron.trim().split(/\s+/).join(' ');
  const texts = expression.split(' ');
  if (texts.length !== 5) {
    throw new InvalidParameterError(
      `Invalid cron: ${cron} has ${texts.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    );
  }
  const fields = CRON_FIELDS.map((rule, i) => parseCronField(texts[i] ?? '', rule, expression));
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [
    CronField,
    CronField,
    CronField,
    CronField,
    CronField,
  ];
  // 7 is Sunday as well as 0.
  const weekdays = [...new Set(dayOfWeek.values.map((v) => v % 7))].sort((a, b) => a - b);
  const spec = {
    kind: 'cron',
    expression,
    minute,
    hour,
    dayOfMonth,
    month,
    dayOfWeek: { values: weekdays, any: dayOfWeek.any },
  } as const;
  assertCanRun(spec);
  return spec;
}

function parseCronField(text: string, rule: CronFieldRule, expression: string): CronField {
  const bad = (why: string): InvalidParameterError =>
    new InvalidParameterError(`Invalid cron: ${expression}: ${rule.name} field ${text} ${why}`);
  if (text === '*') return { values: range(rule.min, rule.max, 1), any: true };
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:\/([0-9]+))?$/.exec(item);
    if (match === null) throw bad(`is not a value, a range a-b, * or a step */n or a-b/n`);
    const [, whole, fromText, toText, stepText] = match;
    if (whole !== '*' && toText === undefined && stepText !== undefined) {
      throw bad(`has a step on a single value (${item}); write a range a-b/n`);
    }
    const from = whole === '*' ? rule.min : cronValue(fromText ?? '', rule, bad);
    const to = whole === '*' ? rule.max : toText === undefined ? from : cronValue(toText, rule, bad);
    if (from > to) throw bad(`has a range ${item} that runs backwards`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!(step >= 1 && step <= rule.max)) throw bad(`has step ${stepText} out of range 1-${rule.max}`);
    for (const v of range(from, to, step)) values.add(v);
  }
  return { values: [...values].sort((a, b) => a - b), any: false };
}

function cronValue(text: string, rule: CronFieldRule, bad: (why: string) => InvalidParameterError): number {
  const named = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return rule.name === 'month' ? named + 1 : named;
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(value >= rule.min && value <= rule.max)) {
    throw bad(`has value ${text} out of range ${rule.min}-${rule.max}`);
  }
  return value;
}

function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let v = from; v <= to; v += step) values.push(v);
  return values;
}

/**
 * Refuses a cron that names only days its months never have (`0 0 31 2 *`): it would never run. With
 * both day fields restricted the day-of-week alone can match, so such a cron always can.
 */
function assertCanRun(spec: Extract<ScheduleSpec, { kind: 'cron' }>): void {
  if (spec.dayOfMonth.any || !spec.dayOfWeek.any) return;
  const firstDay = spec.dayOfMonth.values[0] ?? 1;
  // 2000 is a leap year, so 29 February counts as a day February has.
  if (spec.month.values.some((m) => firstDay <= daysInMonth(2000, m))) return;
  throw new InvalidParameterError(
    `Invalid cron: ${spec.expression} never runs: no month in ${spec.month.values.join(',')} has day ${spec.dayOfMonth.values.join(',')}`,
  );
}

/** The parameters a spec was parsed from, normalised (to store a policy, or to show it). */
export function scheduleInputOf(spec: ScheduleSpec): ScheduleInput {
  return spec.kind === 'cron'
    ? { cron: spec.expression }
    : { intervaltype: spec.intervalType, schedule: spec.schedule };
}

const WEEKDAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function two(n: number | undefined): string {
  return String(n ?? 0).padStart(2, '0');
}

/** A one-line description for lists and events, e.g. "every hour at :05", "cron 0 *\/4 * * *". */
export function describeSchedule(spec: ScheduleSpec): string {
  if (spec.kind === 'cron') return `cron ${spec.expression}`;
  const at = `${two(spec.hour)}:${two(spec.minute)}`;
  switch (spec.intervalType) {
    case 'HOURLY':
      return `every hour at :${two(spec.minute)}`;
    case 'DAILY':
      return `every day at ${at}`;
    case 'WEEKLY':
      return `every ${WEEKDAY_NAMES[(spec.dayOfWeek ?? 1) - 1] ?? '?'} at ${at}`;
    case 'MONTHLY':
      return `every month on day ${spec.dayOfMonth ?? 1} at ${at}`;
  }
}

/**
 * True for an IANA zone name (`Europe/Berlin`, `America/New_York`, `UTC`, `Etc/GMT+5`) that Intl
 * knows; false for anything else, including offsets such as `+01:00`, which would not follow
 * daylight saving. CloudStack's Java TimeZone silently turns unknown names into GMT; we refuse them.
 */
export function isValidTimeZone(tz: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz) && isKnownTimeZone(tz);
}

/**
 * The zone's name as Intl spells it (`europe/berlin` → `Europe/Berlin`, `Etc/UTC` → `UTC`), to store
 * and show, as CloudStack stores TimeZone.getID(). Only for names isValidTimeZone accepts.
 */
export function canonicalTimeZone(tz: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
}
