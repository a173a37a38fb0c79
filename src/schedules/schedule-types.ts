/**
 * The shapes shared by VM snapshot policies: what a schedule is, what retention keeps, and what a
 * retention decision says. Pure data; the calendar (slot-calendar.ts), the parser
 * (schedule-spec.ts) and the pruning rule (retention-rule.ts) work on these.
 */

/** CloudStack's createSnapshotPolicy interval types. */
export type IntervalType = 'HOURLY' | 'DAILY' | 'WEEKLY' | 'MONTHLY';

/** One field of a 5-field cron expression, expanded to the values it matches. */
export interface CronField {
  readonly values: readonly number[];
  /** True when the field was `*` (matters for cron's day-of-month / day-of-week OR rule). */
  readonly any: boolean;
}

/**
 * A parsed schedule. CloudStack's forms (`MM`, `MM:HH`, `MM:HH:D`, `MM:HH:DD`) and a 5-field cron
 * expression both become the wall-clock fields they match in the policy's timezone.
 */
export type ScheduleSpec =
  | {
      readonly kind: 'interval';
      readonly intervalType: IntervalType;
      /** The schedule text as given, e.g. `30:02:1`. */
      readonly schedule: string;
      readonly minute: number;
      /** DAILY, WEEKLY, MONTHLY. */
      readonly hour?: number;
      /** WEEKLY: 1 = Sunday … 7 = Saturday, as CloudStack (java.util.Calendar) counts. */
      readonly dayOfWeek?: number;
      /** MONTHLY: 1–28 (CloudStack refuses later days). */
      readonly dayOfMonth?: number;
    }
  | {
      readonly kind: 'cron';
      /** The expression as given, e.g. `0 * * * *`. */
      readonly expression: string;
      readonly minute: CronField;
      readonly hour: CronField;
      readonly dayOfMonth: CronField;
      readonly month: CronField;
      /** 0 = Sunday … 6 = Saturday (7 is accepted as Sunday on input). */
      readonly dayOfWeek: CronField;
    };

/** How many of a policy's snapshots to keep: `maxsnaps` (newest N) or the keep-* levels. */
export type Retention =
  | { readonly kind: 'maxsnaps'; readonly maxsnaps: number }
  | {
      readonly kind: 'levels';
      readonly keephourly: number;
      readonly keepdaily: number;
      readonly keepweekly: number;
      readonly keepmonthly: number;
      readonly keepyearly: number;
    };

/** A snapshot retention may look at. Manual snapshots have `policyId: null`. */
export interface RetentionCandidate {
  readonly id: string;
  /** Creation time, epoch milliseconds. */
  readonly created: number;
  readonly policyId: string | null;
}

/** What retention decided for one of the policy's snapshots, and why (shown by `--dry-run`). */
export interface RetentionDecision {
  readonly id: string;
  readonly keep: boolean;
  /** e.g. `keep-daily 2/7 (2026-11-30)`, `newest 3 of maxsnaps 5`, `beyond keep-hourly 24`. */
  readonly reason: string;
}
