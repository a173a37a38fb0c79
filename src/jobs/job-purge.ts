/**
 * Retention, as CloudStack's AsyncJobManager GC and EventPurgeTask: finished jobs are deleted
 * `job.expire.minutes` after they completed, events `event.purge.delay` days after they were
 * created. Without it a tenant grows the job and event tables without bound (every createTags is
 * a job). Deletes run in bounded batches with a yield between them, so a round that finds a large
 * backlog never holds the store (SQLite: the event loop too) for long; what is left waits for the
 * next round.
 */
import type { Db } from '../store/database.ts';
import type { EventStore, PurgeBatches } from '../store/event-store.ts';
import type { SettingsStore } from '../store/settings-store.ts';
import { yieldToEventLoop } from './job-queue.ts';

/** 500 rows per statement, at most 20 statements per table per round. */
export const DEFAULT_PURGE_BATCHES: PurgeBatches = { batchSize: 500, maxBatches: 20 };

const FINISHED = ['succeeded', 'failed'] as const;

export interface PurgeDeps {
  readonly db: Db;
  readonly settings: SettingsStore;
  readonly events: EventStore;
}

export interface PurgeCounts {
  readonly jobs: number;
  readonly events: number;
}

/**
 * Deletes finished (succeeded or failed) jobs that completed before `cutoff`, in batches. Queued and running jobs are never touched, however old: their owner still needs them.
 */
export async function purgeFinishedJobs(
  db: Db,
  cutoff: number,
  batches: PurgeBatches = DEFAULT_PURGE_BATCHES,
  between: () => Promise<void> = yieldToEventLoop,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < batches.maxBatches; i++) {
    if (i > 0) await between();
    const res = await db
      .deleteFrom('async_jobs')
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('async_jobs')
          .select('seq')
          .where('status', 'in', FINISHED)
          .where('completed', '<', cutoff)
          // No ORDER BY: any expired rows will do, and an index range read needs no sort.
          .limit(batches.batchSize),
      )
      // The status guard again on the row deleted: nothing that is not finished, whatever the plan.
      .where('status', 'in', FINISHED)
      .executeTakeFirst();
    const n = Number(res.numDeletedRows);
    deleted += n;
    if (n < batches.batchSize) break;
  }
  return deleted;
}

/**
 * One retention round at `now`. `job.expire.minutes` below 0 keeps jobs forever (0 deletes them as
 * soon as they finish, as in CloudStack); `event.purge.delay` 0 (or below) keeps events forever.
 */
export async function purgeExpired(
  deps: PurgeDeps,
  now: number,
  batches: PurgeBatches = DEFAULT_PURGE_BATCHES,
): Promise<PurgeCounts> {
  const expireMinutes = deps.settings.getNumber('job.expire.minutes');
  const jobs =
    Number.isFinite(expireMinutes) && expireMinutes >= 0
      ? await purgeFinishedJobs(deps.db, now - expireMinutes * 60_000, batches)
      : 0;
  const purgeDays = deps.settings.getNumber('event.purge.delay');
  const events =
    Number.isFinite(purgeDays) && purgeDays > 0
      ? await deps.events.purgeBefore(now - purgeDays * 86_400_000, batches, yieldToEventLoop)
      : 0;
  return { jobs, events };
}
