import { describe, expect, it } from 'vitest';
import { ApiErrorCode, CsErrorCode, InvalidParameterError } from '../../src/core/errors.ts';
import {
  canonicalTimeZone,
  describeSchedule,
  isValidTimeZone,
  parseSchedule,
  scheduleInputOf,
  type ScheduleInput,
} from '../../src/schedules/schedule-spec.ts';
import type { ScheduleSpec } from '../../src/schedules/schedule-types.ts';

/** The 431 error parseSchedule throws for the input. */
function refusal(input: ScheduleInput): InvalidParameterError {
  try {
    parseSchedule(input);
  } catch (err) {
    if (err instanceof InvalidParameterError) {
      expect(err.errorCode).toBe(ApiErrorCode.PARAM_ERROR);
      expect(err.csErrorCode).toBe(CsErrorCode.InvalidParameterValueException);
      return err;
    }
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

function cron(expression: string): Extract<ScheduleSpec, { kind: 'cron' }> {
  const spec = parseSchedule({ cron: expression });
  if (spec.kind !== 'cron') throw new Error('expected a cron spec');
  return spec;
}

describe('CloudStack interval schedules', () => {
  it('reads HOURLY MM, case-insensitively', () => {
    expect(parseSchedule({ intervaltype: 'hourly', schedule: '05' })).toEqual({
      kind: 'interval',
      intervalType: 'HOURLY',
      schedule: '05',
      minute: 5,
    });
  });

  it('reads DAILY MM:HH (minute first, as CloudStack)', () => {
    expect(parseSchedule({ intervaltype: 'Daily', schedule: '30:02' })).toEqual({
      kind: 'interval',
      intervalType: 'DAILY',
      schedule: '30:02',
      minute: 30,
      hour: 2,
    });
  });

  it('reads WEEKLY MM:HH:D with 1 = Sunday and 7 = Saturday', () => {
    expect(parseSchedule({ intervaltype: 'WEEKLY', schedule: '0:23:1' })).toMatchObject({
      minute: 0,
      hour: 23,
      dayOfWeek: 1,
    });
    expect(parseSchedule({ intervaltype: 'WEEKLY', schedule: '59:0:7' })).toMatchObject({ dayOfWeek: 7 });
  });

  it('reads MONTHLY MM:HH:DD up to day 28', () => {
    expect(parseSchedule({ intervaltype: 'MONTHLY', schedule: '15:4:28' })).toMatchObject({
      intervalType: 'MONTHLY',
      minute: 15,
      hour: 4,
      dayOfMonth: 28,
    });
    expect(parseSchedule({ intervaltype: 'monthly', schedule: '0:0:1' })).toMatchObject({ dayOfMonth: 1 });
  });

  it.each([
    [
      { intervaltype: 'HOURLY', schedule: '60' },
      'Invalid schedule: 60 for interval type: HOURLY',
      'minute 60',
    ],
    [
      { intervaltype: 'HOURLY', schedule: '-1' },
      'Invalid schedule: -1 for interval type: HOURLY',
      'minute -1',
    ],
    [
      { intervaltype: 'HOURLY', schedule: '5:3' },
      'Invalid schedule: 5:3 for interval type: HOURLY',
      'expected MM',
    ],
    [
      { intervaltype: 'DAILY', schedule: '5' },
      'Invalid schedule: 5 for interval type: DAILY',
      'expected MM:HH',
    ],
    [
      { intervaltype: 'DAILY', schedule: '0:24' },
      'Invalid schedule: 0:24 for interval type: DAILY',
      'hour 24',
    ],
    [
      { intervaltype: 'DAILY', schedule: 'a:b' },
      'Invalid schedule: a:b for interval type: DAILY',
      'minute a',
    ],
    [
      { intervaltype: 'WEEKLY', schedule: '0:1:8' },
      'Invalid schedule: 0:1:8 for interval type: WEEKLY',
      'day of week 8 is not in 1-7',
    ],
    [
      { intervaltype: 'WEEKLY', schedule: '0:1:0' },
      'Invalid schedule: 0:1:0 for interval type: WEEKLY',
      'day of week 0 is not in 1-7',
    ],
    [
      { intervaltype: 'MONTHLY', schedule: '0:0:29' },
      'Invalid schedule: 0:0:29 for interval type: MONTHLY',
      'day of month 29 is not in 1-28',
    ],
    [
      { intervaltype: 'MONTHLY', schedule: '0:0' },
      'Invalid schedule: 0:0 for interval type: MONTHLY',
      'expected MM:HH:DD',
    ],
  ])('refuses %j with CloudStack text and what is wrong', (input, cloudStackText, detail) => {
    const err = refusal(input);
    expect(err.message).toContain(cloudStackText);
    expect(err.message).toContain(detail);
  });

  it('refuses an unknown interval type in CloudStack words, naming the value', () => {
    expect(refusal({ intervaltype: 'YEARLY', schedule: '0' }).message).toMatch(
      /^Unsupported interval type YEARLY \(intervaltype must be one of HOURLY, DAILY, WEEKLY, MONTHLY\)$/,
    );
  });

  it('refuses an interval type without a schedule and a schedule without an interval type', () => {
    expect(refusal({ intervaltype: 'DAILY' }).message).toContain('Missing parameter schedule');
    expect(refusal({ intervaltype: 'DAILY', schedule: ' ' }).message).toContain('MM:HH');
    expect(refusal({ schedule: '0:1' }).message).toContain('Missing parameter intervaltype');
  });
});

describe('cron schedules', () => {
  it('expands *, lists, ranges and steps', () => {
    const spec = cron('*/15 9-17/4 1,15 * *');
    expect(spec.minute).toEqual({ values: [0, 15, 30, 45], any: false });
    expect(spec.hour).toEqual({ values: [9, 13, 17], any: false });
    expect(spec.dayOfMonth).toEqual({ values: [1, 15], any: false });
    expect(spec.month.any).toBe(true);
    expect(spec.month.values).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(spec.dayOfWeek.any).toBe(true);
    expect(spec.dayOfWeek.values).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('counts 7 as Sunday, like 0, and dedupes', () => {
    expect(cron('0 0 * * 7').dayOfWeek.values).toEqual([0]);
    expect(cron('0 0 * * 0,7').dayOfWeek.values).toEqual([0]);
    expect(cron('0 0 * * 5-7').dayOfWeek.values).toEqual([0, 5, 6]);
  });

  it('accepts month and weekday names, case-insensitively', () => {
    expect(cron('0 0 1 jan,JUL *').month.values).toEqual([1, 7]);
    expect(cron('0 0 * * mon-fri').dayOfWeek.values).toEqual([1, 2, 3, 4, 5]);
  });

  it('normalises whitespace in the expression it keeps', () => {
    expect(cron('  0   */4 * *  * ').expression).toBe('0 */4 * * *');
  });

  it('marks only a bare * as unrestricted (it decides the day-of-month / day-of-week OR rule)', () => {
    expect(cron('0 0 */2 * *').dayOfMonth.any).toBe(false);
    expect(cron('0 0 1-31 * *').dayOfMonth.any).toBe(false);
    expect(cron('0 0 * * *').dayOfMonth.any).toBe(true);
  });

  it.each([
    ['0 0 * *', 'has 4 fields; expected 5'],
    ['0 0 * * * *', 'has 6 fields; expected 5'],
    ['60 * * * *', 'minute field 60 has value 60 out of range 0-59'],
    ['0 24 * * *', 'hour field 24 has value 24 out of range 0-23'],
    ['0 0 0 * *', 'day-of-month field 0 has value 0 out of range 1-31'],
    ['0 0 32 * *', 'day-of-month field 32 has value 32 out of range 1-31'],
    ['0 0 * 13 *', 'month field 13 has value 13 out of range 1-12'],
    ['0 0 * * 8', 'day-of-week field 8 has value 8 out of range 0-7'],
    ['0 5-2 * * *', 'hour field 5-2 has a range 5-2 that runs backwards'],
    ['*/0 * * * *', 'minute field */0 has step 0 out of range'],
    ['5/10 * * * *', 'has a step on a single value'],
    ['0 0 * * foo', 'day-of-week field foo has value foo out of range'],
    ['0 0 1,,2 * *', 'day-of-month field 1,,2 is not a value'],
    ['0 0 31 2 *', 'never runs'],
    ['0 0 30,31 2 *', 'never runs'],
  ])('refuses %s', (expression, detail) => {
    const err = refusal({ cron: expression });
    expect(err.message).toContain(`Invalid cron: `);
    expect(err.message).toContain(detail);
  });

  it('accepts 29 February and a 31st that some month has', () => {
    expect(cron('0 0 29 2 *').dayOfMonth.values).toEqual([29]);
    expect(cron('0 0 31 2,3 *').month.values).toEqual([2, 3]);
    // With both day fields restricted the weekday alone can match: it runs every Monday of February.
    expect(cron('0 0 31 2 1').dayOfWeek.values).toEqual([1]);
  });
});

describe('exactly one of cron or intervaltype + schedule', () => {
  it('refuses both', () => {
    expect(refusal({ cron: '0 * * * *', intervaltype: 'HOURLY', schedule: '0' }).message).toMatch(
      /^Specify either cron or intervaltype and schedule, not both/,
    );
    expect(refusal({ cron: '0 * * * *', schedule: '0' }).message).toContain('not both');
  });

  it('refuses neither, treating empty parameters as absent', () => {
    expect(refusal({}).message).toBe('Either cron or intervaltype and schedule must be specified');
    expect(refusal({ cron: '', intervaltype: '', schedule: '' }).message).toBe(
      'Either cron or intervaltype and schedule must be specified',
    );
  });
});

describe('describeSchedule', () => {
  it.each([
    [{ intervaltype: 'HOURLY', schedule: '5' }, 'every hour at :05'],
    [{ intervaltype: 'DAILY', schedule: '30:2' }, 'every day at 02:30'],
    [{ intervaltype: 'WEEKLY', schedule: '0:23:1' }, 'every Sunday at 23:00'],
    [{ intervaltype: 'WEEKLY', schedule: '0:23:7' }, 'every Saturday at 23:00'],
    [{ intervaltype: 'MONTHLY', schedule: '15:04:28' }, 'every month on day 28 at 04:15'],
    [{ cron: '0 */4 * * *' }, 'cron 0 */4 * * *'],
  ])('describes %j as %s', (input, text) => {
    expect(describeSchedule(parseSchedule(input))).toBe(text);
  });
});

describe('scheduleInputOf', () => {
  it.each([
    [
      { intervaltype: 'weekly', schedule: ' 0:23:1 ' },
      { intervaltype: 'WEEKLY', schedule: '0:23:1' },
    ],
    [{ cron: ' 0  */4 * * * ' }, { cron: '0 */4 * * *' }],
  ])('gives %j back as %j, which parses to the same spec', (input, normalised) => {
    const spec = parseSchedule(input);
    expect(scheduleInputOf(spec)).toEqual(normalised);
    expect(parseSchedule(scheduleInputOf(spec))).toEqual(spec);
  });
});

describe('isValidTimeZone', () => {
  it.each(['Europe/Berlin', 'America/New_York', 'UTC', 'Etc/GMT+5', 'Australia/Lord_Howe', 'Asia/Kolkata'])(
    'accepts %s',
    (tz) => expect(isValidTimeZone(tz)).toBe(true),
  );

  it.each(['Mars/Olympus', 'Europe/Berlinn', '', '+01:00', 'GMT+01:00 ', '../etc/passwd', 'Europe/'])(
    'refuses %j',
    (tz) => expect(isValidTimeZone(tz)).toBe(false),
  );
});

describe('canonicalTimeZone', () => {
  it.each([
    ['europe/berlin', 'Europe/Berlin'],
    ['America/New_York', 'America/New_York'],
    ['Etc/UTC', 'UTC'],
  ])('spells %s as %s', (tz, canonical) => {
    expect(canonicalTimeZone(tz)).toBe(canonical);
  });
});
