/**
 * listVirtualMachines' SQL-paged read (listVmPage) against the rule it replaces (issue 15, item 2):
 * every live VM read into memory in creation order, filtered by account, ids, name, state (any
 * case), zone, host, keyword and tags, then sliced. Property test on random VMs, filters and pages
 * (SQLite; PostgreSQL when available), and the query plan of a page on SQLite.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesKeyword } from '../../src/api/list-support.ts';
import { matchesTags } from '../../src/api/commands/vm-snapshot-commands.ts';
import type { OpenedStore } from '../../src/store/database.ts';
import type { PageRequest } from '../../src/store/list-page.ts';
import type { VmRow } from '../../src/store/schema.ts';
import { listVmPage, type VmListFilter } from '../../src/store/vm-list-store.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';
import { storeEngines } from '../helpers/store-engines.ts';

const ACCOUNTS = ['acc-a', 'acc-b'] as const;
const TAGS = [
  { key: 'a', value: '1' },
  { key: 'b', value: '2' },
] as const;
const text = fc.string({ unit: fc.constantFrom('a', 'A', 'b', '%', '_'), maxLength: 3 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const vmSpec = fc.record({
  account: fc.constantFrom(...ACCOUNTS),
  name: text,
  state: fc.constantFrom('Running', 'Stopped'),
  zone: fc.constantFrom('z1', 'z2'),
  host: fc.constantFrom<string | null>(null, 'h1', 'h2'),
  created: fc.integer({ min: 0, max: 4 }),
  removed: fc.boolean(),
  tags: fc.subarray([0, 1]),
});
type VmSpec = typeof vmSpec extends fc.Arbitrary<infer T> ? T : never;

const filterSpec = fc.record({
  accountId: fc.constantFrom<string | null>(null, ...ACCOUNTS),
  ids: maybe(fc.array(fc.nat(), { maxLength: 3 })),
  pickName: maybe(fc.nat()),
  state: maybe(fc.constantFrom('running', 'STOPPED', 'Running', 'Destroyed')),
  zoneId: maybe(fc.constantFrom('z1', 'z2')),
  hostId: maybe(fc.constantFrom('h1', 'h2')),
  keyword: maybe(text),
  tags: maybe(fc.subarray([...TAGS, { key: 'b', value: '' }], { minLength: 1 })),
});

const page: fc.Arbitrary<PageRequest> = fc.oneof(
  fc.constant({ offset: 0, limit: null }),
  fc.record({ offset: fc.integer({ min: 0, max: 8 }), limit: fc.integer({ min: 1, max: 4 }) }),
);

const engines = storeEngines();

describe.each(engines)('listVmPage on $name gives what filtering in memory gave', (engine) => {
  let store: OpenedStore;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ store, drop } = await engine.open());
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  async function insert(specs: readonly VmSpec[]): Promise<VmRow[]> {
    await store.db.deleteFrom('vms').execute();
    await store.db.deleteFrom('resource_tags').execute();
    const rows: VmRow[] = [];
    for (const [i, s] of specs.entries()) {
      const row: VmRow = {
        id: `vm-${String(i).padStart(2, '0')}`,
        instance_name: `i-${i}-${s.name}`,
        display_name: s.name,
        state: s.state,
        host_id: s.host,
        last_host_id: null,
        account_id: s.account,
        zone_id: s.zone,
        hypervisor: 'Simulator',
        memory_mb: 1,
        cpus: 1,
        update_count: 0,
        created: s.created,
        removed: s.removed ? 1 : null,
      };
      rows.push(row);
      await store.db.insertInto('vms').values(row).execute();
      for (const t of s.tags) {
        await store.db
          .insertInto('resource_tags')
          .values({
            id: `t-${i}-${t}`,
            ...TAGS[t]!,
            resource_type: 'UserVm',
            resource_id: row.id,
            account_id: s.account,
            created: 0,
          })
          .execute();
      }
    }
    return rows;
  }

  it('account, ids, name, state, zone, host, keyword, tags; oldest first; page and count', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(vmSpec, { maxLength: 12 }), filterSpec, page, async (specs, fs, p) => {
        const rows = await insert(specs);
        const pick = (n: number) => rows[n % Math.max(1, rows.length)]?.id ?? 'none';
        const filter: VmListFilter = {
          ...fs,
          ids: fs.ids?.map(pick),
          displayName:
            fs.pickName === undefined
              ? undefined
              : rows[fs.pickName % Math.max(1, rows.length)]?.display_name,
        };
        const tagsOf = (i: number) => specs[i]!.tags.map((t) => TAGS[t]!);
        const expected = rows
          .map((r, i) => ({ r, tags: tagsOf(i) }))
          .filter(({ r }) => r.removed === null)
          .filter(({ r }) => filter.accountId === null || r.account_id === filter.accountId)
          .filter(({ r }) => filter.ids === undefined || filter.ids.includes(r.id))
          .filter(({ r }) => filter.displayName === undefined || r.display_name === filter.displayName)
          .filter(
            ({ r }) => filter.state === undefined || r.state.toLowerCase() === filter.state.toLowerCase(),
          )
          .filter(({ r }) => filter.zoneId === undefined || r.zone_id === filter.zoneId)
          .filter(({ r }) => filter.hostId === undefined || r.host_id === filter.hostId)
          .filter(({ r }) => matchesKeyword(filter.keyword, r.display_name, r.instance_name))
          .filter(({ tags }) => matchesTags(tags, filter.tags ?? []))
          .sort((a, b) => a.r.created - b.r.created || (a.r.id < b.r.id ? -1 : 1))
          .map(({ r }) => r.id);
        const got = await listVmPage(store.db, filter, p);
        const end = p.limit === null ? undefined : p.offset + p.limit;
        expect({ ids: got.rows.map((v) => v.id), total: got.total }).toEqual({
          ids: expected.slice(p.offset, end),
          total: expected.length,
        });
      }),
      { numRuns: engine.name === 'postgres' ? 25 : 80 },
    );
  });
});

describe('listVmPage on SQLite reads a page through the vms_live_* indexes', () => {
  const { db, plansOf } = sqlitePlanDatabase();

  it.each([
    ['one account', 'acc-a', 'vms_live_account_created'],
    ['every account', null, 'vms_live_created'],
  ] as const)('%s: in order, without a sort', async (_label, accountId, index) => {
    const [plan] = await plansOf(() => listVmPage(db, { accountId }, { offset: 0, limit: 20 }));
    expect(plan).toContain(`INDEX ${index}`);
    expect(plan).not.toContain('TEMP B-TREE');
  });
});
