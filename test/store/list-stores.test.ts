/**
 * The SQL-paged list reads (listJobs, EventStore.list, listTags) against the rule they replace:
 * filter every row in memory (scope, filters, keyword as `matchesKeyword`), sort, slice. Property
 * tests on random rows, filters and pages (ties in `created` included, keywords with `%`, `_` and
 * `\`), on SQLite and, when available, PostgreSQL. On SQLite, the query plans show each list's
 * page is read through its index.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesKeyword } from '../../src/api/list-support.ts';
import { purgeFinishedJobs } from '../../src/jobs/job-purge.ts';
import type { Db, OpenedStore } from '../../src/store/database.ts';
import { EventStore, type EventFilter } from '../../src/store/event-store.ts';
import { listJobs, type JobFilter } from '../../src/store/job-list-store.ts';
import type { PageRequest, PageResult } from '../../src/store/list-page.ts';
import type { EventRow, TagRow } from '../../src/store/schema.ts';
import { sortableId } from '../../src/store/sortable-id.ts';
import { listTags, type TagFilter } from '../../src/store/tag-store.ts';
import { finishedJobRow } from '../helpers/list-flood.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';
import { storeEngines } from '../helpers/store-engines.ts';

const ACCOUNTS = ['acc-a', 'acc-b', 'acc-c'] as const;
const account = fc.constantFrom(...ACCOUNTS);
/** Short texts over an alphabet with LIKE's special characters and both cases. */
const text = fc.string({ unit: fc.constantFrom('a', 'A', 'b', '%', '_', '\\', 'x'), maxLength: 4 });
const created = fc.integer({ min: 0, max: 5 });
const page: fc.Arbitrary<PageRequest> = fc.oneof(
  fc.constant({ offset: 0, limit: null }),
  fc.record({ offset: fc.integer({ min: 0, max: 12 }), limit: fc.integer({ min: 1, max: 5 }) }),
);
const scope = fc.constantFrom<string | null>(null, ...ACCOUNTS);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** The page read in SQL holds the rows, and the count, that filtering in memory and slicing give. */
function expectSamePage(
  got: PageResult<{ id: string }>,
  expected: readonly { id: string }[],
  p: PageRequest,
): void {
  const end = p.limit === null ? undefined : p.offset + p.limit;
  expect({ ids: got.rows.map((r) => r.id), total: got.total }).toEqual({
    ids: expected.slice(p.offset, end).map((r) => r.id),
    total: expected.length,
  });
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function clear(db: Db): Promise<void> {
  await db.deleteFrom('async_jobs').execute();
  await db.deleteFrom('events').execute();
  await db.deleteFrom('resource_tags').execute();
}

const engines = storeEngines();

describe.each(engines)('SQL-paged lists on $name give what filtering in memory gave', (engine) => {
  let store: OpenedStore;
  let drop: () => Promise<void>;
  const runs = engine.name === 'postgres' ? 25 : 80;

  beforeAll(async () => {
    ({ store, drop } = await engine.open());
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  it('listJobs: scope, start date, newest first, page and count', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(account, created), { maxLength: 25 }),
        scope,
        maybe(created),
        page,
        async (rows, accountId, from, p) => {
          await clear(store.db);
          for (const [a, c] of rows)
            await store.db
              .insertInto('async_jobs')
              .values(finishedJobRow(a, 'u', c))
              .execute();
          const all = await store.db.selectFrom('async_jobs').selectAll().execute();
          const filter: JobFilter = { accountId, from };
          const expected = all
            .filter((j) => accountId === null || j.account_id === accountId)
            .filter((j) => from === undefined || j.created >= from)
            .sort((a, b) => b.seq - a.seq);
          const got = await listJobs(store.db, filter, p);
          expectSamePage(got, expected, p);
        },
      ),
      { numRuns: runs },
    );
  });

  it('EventStore.list: scope, id, type, level, dates, keyword, newest first, page and count', async () => {
    const events = new EventStore(store.db);
    const eventRow = fc.record({
      account,
      type: fc.constantFrom('VM.START', 'VMSNAPSHOT.CREATE'),
      level: fc.constantFrom('INFO', 'ERROR'),
      description: text,
      created,
    });
    const filter = fc.record({
      accountId: scope,
      type: maybe(fc.constantFrom('VM.START', 'VMSNAPSHOT.CREATE')),
      level: maybe(fc.constantFrom('INFO', 'ERROR')),
      from: maybe(created),
      before: maybe(created),
      keyword: maybe(text),
      pickId: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(eventRow, { maxLength: 25 }), filter, page, async (rows, f, p) => {
        await clear(store.db);
        for (const r of rows) {
          await store.db
            .insertInto('events')
            .values({
              id: sortableId(),
              account_id: r.account,
              user_id: null,
              type: r.type,
              level: r.level,
              state: 'Completed',
              description: r.description,
              resource_type: null,
              resource_id: null,
              created: r.created,
            })
            .execute();
        }
        const all: EventRow[] = await store.db.selectFrom('events').selectAll().execute();
        const id = f.pickId ? all[0]?.id : undefined;
        const query: EventFilter = { ...f, id };
        const expected = all
          .filter((e) => f.accountId === null || e.account_id === f.accountId)
          .filter((e) => id === undefined || e.id === id)
          .filter((e) => f.type === undefined || e.type === f.type)
          .filter((e) => f.level === undefined || e.level === f.level)
          .filter((e) => f.from === undefined || e.created >= f.from)
          .filter((e) => f.before === undefined || e.created < f.before)
          .filter((e) => matchesKeyword(f.keyword, e.type, e.description))
          .sort((a, b) => b.created - a.created || byText(b.id, a.id));
        const got = await events.list(query, p);
        expectSamePage(got, expected, p);
      }),
      { numRuns: runs },
    );
  });

  it('listTags: scope, type, resource, key, value, keyword, oldest first, page and count', async () => {
    const tagRow = fc.record({
      account,
      type: fc.constantFrom('UserVm', 'VMSnapshot'),
      resource: fc.constantFrom('r1', 'r2'),
      key: text,
      value: text,
      created,
    });
    const filter = fc.record({
      accountId: scope,
      resourceType: maybe(fc.constantFrom('UserVm', 'VMSnapshot')),
      resourceId: maybe(fc.constantFrom('r1', 'r2')),
      key: maybe(text),
      value: maybe(text),
      keyword: maybe(text),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(tagRow, { maxLength: 25 }), filter, page, async (rows, f: TagFilter, p) => {
        await clear(store.db);
        for (const r of rows) {
          await store.db
            .insertInto('resource_tags')
            .values({
              id: sortableId(),
              key: r.key,
              value: r.value,
              resource_type: r.type,
              resource_id: r.resource,
              account_id: r.account,
              created: r.created,
            })
            .execute();
        }
        const all: TagRow[] = await store.db.selectFrom('resource_tags').selectAll().execute();
        const expected = all
          .filter((t) => f.accountId === null || t.account_id === f.accountId)
          .filter((t) => f.resourceType === undefined || t.resource_type === f.resourceType)
          .filter((t) => f.resourceId === undefined || t.resource_id === f.resourceId)
          .filter((t) => f.key === undefined || t.key === f.key)
          .filter((t) => f.value === undefined || t.value === f.value)
          .filter((t) => matchesKeyword(f.keyword, t.key, t.value))
          .sort((a, b) => a.created - b.created || byText(a.id, b.id));
        const got = await listTags(store.db, f, p);
        expectSamePage(got, expected, p);
      }),
      { numRuns: runs },
    );
  });

  it('rows written in one millisecond list in the order they were written', async () => {
    await clear(store.db);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const at = Date.now();
    for (const key of keys) {
      await store.db
        .insertInto('resource_tags')
        .values({
          id: sortableId(at),
          key,
          value: 'v',
          resource_type: 'UserVm',
          resource_id: 'r1',
          account_id: 'acc-a',
          created: at,
        })
        .execute();
    }
    const got = await listTags(store.db, { accountId: 'acc-a' }, { offset: 0, limit: null });
    expect(got.rows.map((r) => r.key)).toEqual(keys);
  });
});

describe('list and purge queries on SQLite are served by the list indexes', () => {
  const { db, plansOf } = sqlitePlanDatabase();

  const full = { offset: 0, limit: 5 };

  it('listJobs of one account searches async_jobs_account_seq, in order', async () => {
    const [plan] = await plansOf(() => listJobs(db, { accountId: 'acc-a' }, full));
    expect(plan).toContain('USING INDEX async_jobs_account_seq');
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it('EventStore.list of one account searches events_account_created, in order', async () => {
    const [plan] = await plansOf(() => new EventStore(db).list({ accountId: 'acc-a' }, full));
    expect(plan).toContain('USING INDEX events_account_created');
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it('listTags of one account searches resource_tags_account_created, in order', async () => {
    const [plan] = await plansOf(() => listTags(db, { accountId: 'acc-a' }, full));
    expect(plan).toContain('USING INDEX resource_tags_account_created');
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it('the purges find their rows through async_jobs_finished and events_created', async () => {
    const [jobPlan] = await plansOf(() =>
      purgeFinishedJobs(db, 1000, { batchSize: 10, maxBatches: 1 }, async () => {}),
    );
    expect(jobPlan).toMatch(/USING (COVERING )?INDEX async_jobs_finished/);
    expect(jobPlan).not.toContain('TEMP B-TREE');
    const [eventPlan] = await plansOf(() =>
      new EventStore(db).purgeBefore(1000, { batchSize: 10, maxBatches: 1 }),
    );
    expect(eventPlan).toMatch(/USING (COVERING )?INDEX events_created/);
    expect(eventPlan).not.toContain('TEMP B-TREE');
  });
});
