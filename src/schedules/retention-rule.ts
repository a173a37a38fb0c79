/**
 * Which of a policy's snapshots its retention keeps. Only snapshots whose policyId is the policy's
 * are decided; manual snapshots and other policies' snapshots get no decision at all, so nothing
 * downstream can delete them by mistake.
 *
 * `maxsnaps N`: the newest N are kept (CloudStack's recurring snapshot policies).
 *
 * keep-* levels: Proxmox Backup Server's prune rule (pbs-datastore/src/prune.rs,
 * compute_prune_info / mark_selections), with periods taken in the policy's timezone:
 * - snapshots are sorted newest first; levels run in the order hourly, daily, weekly (ISO week),
 *   monthly, yearly;
 * - a level first notes the periods of the snapshots already kept by earlier levels; it then walks
 *   the snapshots no earlier level has decided, newest first: one in a noted period is skipped (left
 *   undecided); the first of a new period is kept (the newest of that period), until the level has
 *   kept N periods: at the first snapshot of a further period the level stops; a later one in a
 *   period this level already kept is marked for removal, and later levels do not look at it again;
 * - what no level keeps is removed; a level of 0 keeps nothing; if every level is 0, PBS keeps
 *   everything ("No prune selection - keeping all files"), and so do we.
 * Ties in creation time are ordered by id (higher id counts as newer), so the result is stable.
 */
import type { Retention, RetentionCandidate, RetentionDecision } from './schedule-types.ts';
import { isoWeekOf, wallTimeAt, type WallTime } from './zoned-time.ts';

type LevelName = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

/** Each level's period label, e.g. `2026-11-30T14`, `2026-11-30`, `2026-W48`, `2026-11`, `2026`. */
const LEVELS: readonly { readonly name: LevelName; period(w: WallTime): string }[] = [
  { name: 'hourly', period: (w) => `${ymd(w)}T${pad(w.hour)}` },
  { name: 'daily', period: (w) => ymd(w) },
  {
    name: 'weekly',
    period: (w) => {
      const { year, week } = isoWeekOf(w);
      return `${year}-W${pad(week)}`;
    },
  },
  { name: 'monthly', period: (w) => `${w.year}-${pad(w.month)}` },
  { name: 'yearly', period: (w) => String(w.year) },
];

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function ymd(w: WallTime): string {
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

/** Newest first; equal times by id, descending. */
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  if (a.created !== b.created) return b.created - a.created;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** The decision for each of `policyId`'s snapshots among the candidates, newest first. */
export function decideRetention(
  candidates: readonly RetentionCandidate[],
  retention: Retention,
  policyId: string,
  timeZone: string,
): RetentionDecision[] {
  const own = candidates.filter((c) => c.policyId === policyId).sort(newestFirst);
  if (retention.kind === 'maxsnaps') return byMaxSnaps(own, retention.maxsnaps);
  return byLevels(own, retention, timeZone);
}

function byMaxSnaps(own: readonly RetentionCandidate[], maxsnaps: number): RetentionDecision[] {
  return own.map((c, i) =>
    i < maxsnaps
      ? { id: c.id, keep: true, reason: `newest ${i + 1} of maxsnaps ${maxsnaps}` }
      : { id: c.id, keep: false, reason: `beyond maxsnaps ${maxsnaps} (newest ${i + 1})` },
  );
}

function levelCount(retention: Extract<Retention, { kind: 'levels' }>, level: LevelName): number {
  switch (level) {
    case 'hourly':
      return retention.keephourly;
    case 'daily':
      return retention.keepdaily;
    case 'weekly':
      return retention.keepweekly;
    case 'monthly':
      return retention.keepmonthly;
    case 'yearly':
      return retention.keepyearly;
  }
}

function byLevels(
  own: readonly RetentionCandidate[],
  retention: Extract<Retention, { kind: 'levels' }>,
  timeZone: string,
): RetentionDecision[] {
  if (LEVELS.every((l) => levelCount(retention, l.name) <= 0)) {
    return own.map((c) => ({ id: c.id, keep: true, reason: 'no keep-* level set: all kept, as PBS does' }));
  }
  const walls = own.map((c) => wallTimeAt(c.created, timeZone));
  const marks = new Map<string, RetentionDecision>();
  for (const level of LEVELS) {
    markLevel(own, walls, level, levelCount(retention, level.name), marks);
  }
  return own.map(
    (c) => marks.get(c.id) ?? { id: c.id, keep: false, reason: 'not selected by any keep-* level' },
  );
}

/** PBS's mark_selections for one level. */
function markLevel(
  own: readonly RetentionCandidate[],
  walls: readonly WallTime[],
  level: (typeof LEVELS)[number],
  keep: number,
  marks: Map<string, RetentionDecision>,
): void {
  const periodOf = (i: number): string => level.period(walls[i] as WallTime);
  const alreadyKept = new Set<string>();
  own.forEach((c, i) => {
    if (marks.get(c.id)?.keep === true) alreadyKept.add(periodOf(i));
  });
  const included = new Set<string>();
  for (const [i, c] of own.entries()) {
    if (marks.has(c.id)) continue;
    const period = periodOf(i);
    if (alreadyKept.has(period)) continue;
    if (!included.has(period)) {
      if (included.size >= keep) break;
      included.add(period);
      marks.set(c.id, {
        id: c.id,
        keep: true,
        reason: `keep-${level.name} ${included.size}/${keep} (${period})`,
      });
    } else {
      marks.set(c.id, {
        id: c.id,
        keep: false,
        reason: `keep-${level.name}: a newer snapshot is kept for ${period}`,
      });
    }
  }
}
