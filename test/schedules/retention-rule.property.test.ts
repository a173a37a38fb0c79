/**
 * decideRetention against a reference model of the documented rule (docs/schedules.md), written
 * here by bucketing, as plainly as possible and independently of src/schedules: its own local-time
 * reading (sv-SE formatToParts) and its own ISO week formula.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRetention } from '../../src/schedules/retention-rule.ts';
import type { Retention, RetentionCandidate } from '../../src/schedules/schedule-types.ts';

const POLICY = 'p1';
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'America/Santiago',
  'Asia/Kolkata',
];
const LEVELS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
type Level = (typeof LEVELS)[number];

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(ms: number, tz: string): { y: number; m: number; d: number; h: number } {
  let formatter = formatters.get(tz);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('sv-SE', {
      timeZone: tz,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(tz, formatter);
  }
  const parts = formatter.formatToParts(ms);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour') };
}

/** ISO week by the ordinal-date formula: week = (ordinal − weekday + 10) / 7, then fix the ends. */
function isoWeek(y: number, m: number, d: number): string {
  const weekday = (date: number): number => ((new Date(date).getUTCDay() + 6) % 7) + 1; // Mon 1 … Sun 7
  const weeksIn = (year: number): number => {
    const jan1 = weekday(Date.UTC(year, 0, 1));
    const leap = new Date(Date.UTC(year, 1, 29)).getUTCMonth() === 1;
    return jan1 === 4 || (leap && jan1 === 3) ? 53 : 52;
  };
  const date = Date.UTC(y, m - 1, d);
  const ordinal = (date - Date.UTC(y, 0, 1)) / 86_400_000 + 1;
  const week = Math.floor((ordinal - weekday(date) + 10) / 7);
  if (week < 1) return `${y - 1}/${weeksIn(y - 1)}`;
  if (week > weeksIn(y)) return `${y + 1}/1`;
  return `${y}/${week}`;
}

function periodKey(ms: number, tz: string, level: Level): string {
  const { y, m, d, h } = localParts(ms, tz);
  switch (level) {
    case 'hourly':
      return `${y}/${m}/${d}/${h}`;
    case 'daily':
      return `${y}/${m}/${d}`;
    case 'weekly':
      return isoWeek(y, m, d);
    case 'monthly':
      return `${y}/${m}`;
    case 'yearly':
      return `${y}`;
  }
}

/**
 * The rule by buckets. Per level: drop what earlier levels decided and what lies in a period they
 * kept; bucket the rest by period, buckets ordered by their newest snapshot; keep the newest of the
 * first N buckets; the others in those buckets are removed if newer than the first snapshot of
 * bucket N+1 (where PBS stops walking), else left for later levels. Nothing kept: removed.
 */
function referenceKept(own: RetentionCandidate[], keep: Record<Level, number>, tz: string): Set<string> {
  const sorted = [...own].sort((a, b) => b.created - a.created);
  if (LEVELS.every((l) => keep[l] === 0)) return new Set(sorted.map((s) => s.id));
  const decided = new Map<string, boolean>();
  for (const level of LEVELS) {
    const key = (s: RetentionCandidate): string => periodKey(s.created, tz, level);
    const covered = new Set(sorted.filter((s) => decided.get(s.id) === true).map(key));
    const buckets = new Map<string, RetentionCandidate[]>();
    for (const s of sorted) {
      if (decided.has(s.id) || covered.has(key(s))) continue;
      buckets.set(key(s), [...(buckets.get(key(s)) ?? []), s]);
    }
    const ordered = [...buckets.values()];
    const stop = ordered[keep[level]]?.[0]?.created ?? -Infinity;
    for (const [newest, ...older] of ordered.slice(0, keep[level])) {
      if (newest !== undefined) decided.set(newest.id, true);
      for (const s of older) if (s.created > stop) decided.set(s.id, false);
    }
  }
  return new Set(sorted.filter((s) => decided.get(s.id) === true).map((s) => s.id));
}

const START = Date.UTC(2024, 0, 1);
const END = Date.UTC(2028, 0, 1);
const BUSY = Date.UTC(2026, 10, 28); // many snapshots crowd a few days here
const NEW_YEAR = Date.UTC(2026, 11, 27); // and around New Year, where ISO weeks straddle two years

/** Histories mixing this policy's, another policy's and manual snapshots, years apart or minutes. */
const historyArb = fc
  .uniqueArray(
    fc.record({
      created: fc.oneof(
        fc.integer({ min: START / 60_000, max: END / 60_000 }).map((m) => m * 60_000),
        fc.integer({ min: 0, max: 4 * 24 * 60 }).map((m) => BUSY + m * 60_000),
        fc.integer({ min: 0, max: 10 * 24 * 4 }).map((q) => NEW_YEAR + q * 900_000),
      ),
      policyId: fc.constantFrom<string | null>(POLICY, POLICY, POLICY, 'p2', null),
    }),
    { selector: (s) => s.created, maxLength: 80 },
  )
  .map((list) => list.map((s, i) => ({ id: `s${String(i).padStart(3, '0')}`, ...s })));

const keepArb = fc.record({
  hourly: fc.integer({ min: 0, max: 6 }),
  daily: fc.integer({ min: 0, max: 6 }),
  weekly: fc.integer({ min: 0, max: 5 }),
  monthly: fc.integer({ min: 0, max: 5 }),
  yearly: fc.integer({ min: 0, max: 3 }),
});

describe('retention properties', () => {
  it('keep-* levels keep exactly what the reference model keeps, and decide only the policy’s snapshots', () => {
    fc.assert(
      fc.property(historyArb, keepArb, fc.constantFrom(...ZONES), (history, keep, tz) => {
        const retention: Retention = {
          kind: 'levels',
          keephourly: keep.hourly,
          keepdaily: keep.daily,
          keepweekly: keep.weekly,
          keepmonthly: keep.monthly,
          keepyearly: keep.yearly,
        };
        const own = history.filter((s) => s.policyId === POLICY);
        const decisions = decideRetention(history, retention, POLICY, tz);
        expect(decisions.map((d) => d.id).sort()).toEqual(own.map((s) => s.id).sort());
        const kept = decisions.filter((d) => d.keep).map((d) => d.id);
        expect(new Set(kept)).toEqual(referenceKept(own, keep, tz));
      }),
      { numRuns: 300 },
    );
  });

  it('maxsnaps keeps exactly the newest min(N, count) of the policy’s snapshots', () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 100 }), (history, maxsnaps) => {
        const own = history.filter((s) => s.policyId === POLICY).sort((a, b) => b.created - a.created);
        const decisions = decideRetention(history, { kind: 'maxsnaps', maxsnaps }, POLICY, 'UTC');
        expect(decisions.map((d) => d.id).sort()).toEqual(own.map((s) => s.id).sort());
        expect(decisions.filter((d) => d.keep).map((d) => d.id)).toEqual(
          own.slice(0, Math.min(maxsnaps, own.length)).map((s) => s.id),
        );
      }),
      { numRuns: 300 },
    );
  });
});
