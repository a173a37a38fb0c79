/**
 * Retention (issue 9, item 3): finished jobs older than `job.expire.minutes` and events older than
 * `event.purge.delay` days are purged, in bounded batches; queued and running jobs never are. Time is
 * an injected `now`; the App's periodic round is checked by waiting for its effect.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PURGE_BATCHES, purgeExpired, purgeFinishedJobs } from '../../src/jobs/job-purge.ts';
import { openStore, type Db, type OpenedStore } from '../../src/store/database.ts';
import { EventStore } from '../../src/store/event-store.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import { SettingsStore } from '../../src/store/settings-store.ts';
import { sortableId } from '../../src/store/sortable-id.ts';
import { until } from '../helpers/eventually.ts';
import { RowCounter } from '../helpers/row-counter.ts';
import { openTestApp } from '../helpers/test-app.ts';
import { storeEngines } from '../helpers/store-engines.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
const NOW = Date.UTC(2030, 0, 1);

type Status = 'queued' | 'running' | 'succeeded' | 'failed';

function job(
  name: string,
  status: Status,
  created: number,
  completed: number | null,
): Omit<AsyncJobRow, 'seq'> {
  return {
    id: sortableId(),
    account_id: 'acc',
    user_id: 'u',
    cmd: name,
    kind: 'tags',
    queue_key: `q:${name}`,
    instance_type: null,
    instance_id: null,
    payload: '{}',
    status,
    result_code: 0,
    result: null,
    progress: null,
    owner: status === 'running' ? 'someone' : null,
    lease_until: null,
    attempts: 1,
    created,
    started: status === 'queued' ? null : created,
    completed,
  };
}

async function insertJobs(db: Db, rows: Omit<AsyncJobRow, 'seq'>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('async_jobs')
      .values(rows.slice(i, i + 200))
      .execute();
  }
}

async function insertEvent(db: Db, description: string, created: number): Promise<void> {
  await db
    .insertInto('events')
    .values({
      id: sortableId(),
      account_id: 'acc',
      user_id: null,
      type: 'VM.START',
      level: 'INFO',
      state: 'Completed',
      description,
      resource_type: null,
      resource_id: null,
      created,
    })
    .execute();
}

const engines = storeEngines();

describe.each(engines)('retention purge on $name', (engine) => {
  let store: OpenedStore;
  let drop: () => Promise<void>;
  let settings: SettingsStore;
  let events: EventStore;

  beforeAll(async () => {
    const target = await engine.url();
    drop = target.drop;
    store = await openStore({ url: target.url });
    settings = new SettingsStore(store.db);
    await settings.load();
    events = new EventStore(store.db);
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });
  beforeEach(async () => {
    await store.db.deleteFrom('async_jobs').execute();
    await store.db.deleteFrom('events').execute();
    await store.db.deleteFrom('settings').execute();
    await settings.load();
  });

  const jobNames = async (): Promise<string[]> =>
    (await store.db.selectFrom('async_jobs').select('cmd').orderBy('cmd').execute()).map((r) => r.cmd);
  const eventNames = async (): Promise<string[]> =>
    (await store.db.selectFrom('events').select('description').orderBy('description').execute()).map(
      (r) => r.description,
    );

  it('deletes only finished jobs past job.expire.minutes (CloudStack default 1440)', async () => {
    expect(settings.getNumber('job.expire.minutes')).toBe(1440);
    const old = NOW - 30 * DAY;
    await insertJobs(store.db, [
      job('expired-succeeded', 'succeeded', old, NOW - 1441 * MINUTE),
      job('expired-failed', 'failed', old, NOW - 2000 * MINUTE),
      job('recent-succeeded', 'succeeded', old, NOW - 1439 * MINUTE),
      job('old-queued', 'queued', old, null),
      job('old-running', 'running', old, null),
      // A running job with a stale `completed` (never written today, but never trusted either).
      job('running-with-completed', 'running', old, old),
    ]);
    const counts = await purgeExpired({ db: store.db, settings, events }, NOW);
    expect(counts.jobs).toBe(2);
    expect(await jobNames()).toEqual([
      'old-queued',
      'old-running',
      'recent-succeeded',
      'running-with-completed',
    ]);
  });

  it('deletes events older than event.purge.delay days (default 15); 0 keeps them all', async () => {
    expect(settings.getNumber('event.purge.delay')).toBe(15);
    await insertEvent(store.db, 'sixteen-days', NOW - 16 * DAY);
    await insertEvent(store.db, 'fifteen-days-and-a-bit', NOW - 15 * DAY - 1);
    await insertEvent(store.db, 'fourteen-days', NOW - 14 * DAY);
    await settings.set('event.purge.delay', '0');
    expect((await purgeExpired({ db: store.db, settings, events }, NOW)).events).toBe(0);
    expect(await eventNames()).toHaveLength(3);
    await settings.set('event.purge.delay', '15');
    expect((await purgeExpired({ db: store.db, settings, events }, NOW)).events).toBe(2);
    expect(await eventNames()).toEqual(['fourteen-days']);
  });

  it('job.expire.minutes below 0 keeps every job; a shorter retention purges sooner', async () => {
    await insertJobs(store.db, [job('ten-minutes', 'succeeded', NOW - 10 * MINUTE, NOW - 10 * MINUTE)]);
    await settings.set('job.expire.minutes', '-1');
    expect((await purgeExpired({ db: store.db, settings, events }, NOW + 365 * DAY)).jobs).toBe(0);
    await settings.set('job.expire.minutes', '5');
    expect((await purgeExpired({ db: store.db, settings, events }, NOW)).jobs).toBe(1);
    expect(await jobNames()).toEqual([]);
  });

  it('deletes in bounded batches: at most batchSize rows per statement, maxBatches statements per round', async () => {
    const expired = Array.from({ length: 1234 }, (_, i) =>
      job(`expired-${String(i).padStart(4, '0')}`, 'succeeded', NOW - DAY * 2, NOW - DAY * 2),
    );
    await insertJobs(store.db, [...expired, job('queued', 'queued', NOW - DAY * 2, null)]);
    const counter = new RowCounter();
    const counted = store.db.withPlugin(counter);
    let yields = 0;
    const between = async (): Promise<void> => {
      yields++;
    };
    const first = await purgeFinishedJobs(counted, NOW - DAY, { batchSize: 500, maxBatches: 2 }, between);
    const deletes = counter.queries.filter((q) => q.kind === 'DeleteQueryNode');
    expect(first).toBe(1000);
    expect(deletes.map((d) => d.rowsChanged)).toEqual([500, 500]);
    expect(yields).toBe(1);
    counter.reset();
    const second = await purgeFinishedJobs(counted, NOW - DAY, { batchSize: 500, maxBatches: 2 }, between);
    expect(second).toBe(234);
    expect(counter.queries.filter((q) => q.kind === 'DeleteQueryNode').map((d) => d.rowsChanged)).toEqual([
      234,
    ]);
    expect(await jobNames()).toEqual(['queued']);
    // The App's rounds use bounded batches too.
    expect(DEFAULT_PURGE_BATCHES.batchSize).toBeLessThanOrEqual(500);
    expect(DEFAULT_PURGE_BATCHES.batchSize * DEFAULT_PURGE_BATCHES.maxBatches).toBeLessThanOrEqual(10_000);
  });

  it('event purge batches are bounded the same way', async () => {
    for (let i = 0; i < 12; i++) await insertEvent(store.db, `old-${i}`, NOW - 20 * DAY);
    await insertEvent(store.db, 'new', NOW);
    const counter = new RowCounter();
    const counted = new EventStore(store.db.withPlugin(counter));
    expect(await counted.purgeBefore(NOW - DAY, { batchSize: 5, maxBatches: 2 })).toBe(10);
    expect(counter.queries.map((q) => q.rowsChanged)).toEqual([5, 5]);
    expect(await counted.purgeBefore(NOW - DAY, { batchSize: 5, maxBatches: 2 })).toBe(2);
    expect(await eventNames()).toEqual(['new']);
  });
});

describe('the App purges periodically', () => {
  it('a finished job past its retention disappears without any API call', async () => {
    const t = await openTestApp({ purgeIntervalMs: 20 });
    try {
      const { db } = t.app.deps;
      await insertJobs(db, [job('ancient', 'succeeded', 1000, 2000)]);
      await insertEvent(db, 'ancient', 1000);
      const gone = async (): Promise<boolean> =>
        (await db.selectFrom('async_jobs').select('id').where('cmd', '=', 'ancient').execute()).length ===
          0 &&
        (await db.selectFrom('events').select('id').where('description', '=', 'ancient').execute()).length ===
          0;
      // The round runs every 20 ms; eventually's bound is only a safety net.
      await until(gone, 'the purge round to remove the old rows', { everyMs: 10 });
    } finally {
      await t.close();
    }
  });
});
