/**
 * listVMSnapshot's SQL-paged read (listSnapshotPage) against the rule it replaces (issue 15, item
 * 2): every live snapshot of the VMs asked for read into memory, filtered by ids, VM, account,
 * state, display name, keyword and tags, sorted newest first (ties: higher id first), sliced; each
 * shown with its live VM and live parent. Property tests on random trees, filters and pages, on
 * SQLite and, when available, PostgreSQL. On SQLite, the query plans show that a page of the hot
 * lists (admin listall, one account, one VM) is an index range read in order (no scan of the
 * table, no sort), and that a delete finds a snapshot's children through an index.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesKeyword } from '../../src/api/list-support.ts';
import { matchesTags } from '../../src/api/commands/vm-snapshot-commands.ts';
import {
  LISTED_BY_DEFAULT,
  nextState,
  VM_SNAPSHOT_EVENTS,
  VM_SNAPSHOT_STATES,
} from '../../src/core/vm-snapshot-state.ts';
import type { Db, OpenedStore } from '../../src/store/database.ts';
import type { PageRequest } from '../../src/store/list-page.ts';
import type { VmSnapshotRow } from '../../src/store/schema.ts';
import {
  listSnapshotPage,
  snapshotPageStatements,
  type SnapshotListFilter,
} from '../../src/store/vm-snapshot-list-store.ts';
import { VmSnapshotStore } from '../../src/store/vm-snapshot-store.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';
import { storeEngines } from '../helpers/store-engines.ts';

const ACCOUNTS = ['acc-a', 'acc-b'] as const;
/** vm-3 is removed: its snapshots show no VM. */
const VMS = [
  { id: 'vm-1', account: 'acc-a', removed: null },
  { id: 'vm-2', account: 'acc-b', removed: null },
  { id: 'vm-3', account: 'acc-a', removed: 1 },
] as const;
const TAGS = [
  { key: 'a', value: '1' },
  { key: 'a', value: '2' },
  { key: 'b', value: '1' },
] as const;

/** Short texts over an alphabet with LIKE's special characters and both cases. */
const text = fc.string({ unit: fc.constantFrom('a', 'A', 'b', '%', '_', '\\'), maxLength: 3 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const snapshotSpec = fc.record({
  vm: fc.integer({ min: 0, max: VMS.length - 1 }),
  account: fc.constantFrom(...ACCOUNTS),
  state: fc.constantFrom(...VM_SNAPSHOT_STATES),
  removed: fc.boolean(),
  name: text,
  description: text,
  created: fc.integer({ min: 0, max: 4 }),
  /** Which earlier snapshot of the same VM is the parent (modulo how many there are), if any. */
  parent: maybe(fc.nat()),
  tags: fc.subarray([0, 1, 2]),
});
type SnapshotSpec = typeof snapshotSpec extends fc.Arbitrary<infer T> ? T : never;

const filterSpec = fc.record({
  ids: maybe(fc.array(fc.nat(), { maxLength: 4 })),
  vm: maybe(fc.integer({ min: 0, max: VMS.length - 1 })),
  accountId: fc.constantFrom<string | null>(null, ...ACCOUNTS),
  state: maybe(fc.constantFrom(...VM_SNAPSHOT_STATES)),
  pickName: maybe(fc.nat()),
  keyword: maybe(text),
  tags: maybe(fc.subarray([...TAGS, { key: 'b', value: '' }], { minLength: 1 })),
});

const page: fc.Arbitrary<PageRequest> = fc.oneof(
  fc.constant({ offset: 0, limit: null }),
  fc.record({ offset: fc.integer({ min: 0, max: 10 }), limit: fc.integer({ min: 1, max: 4 }) }),
);

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function insertWorld(db: Db, specs: readonly SnapshotSpec[]): Promise<VmSnapshotRow[]> {
  await db.deleteFrom('vm_snapshots').execute();
  await db.deleteFrom('resource_tags').execute();
  await db.deleteFrom('vms').execute();
  for (const vm of VMS) {
    await db
      .insertInto('vms')
      .values({
        id: vm.id,
        instance_name: `i-${vm.id}`,
        display_name: `d-${vm.id}`,
        state: 'Running',
        host_id: null,
        last_host_id: null,
        account_id: vm.account,
        zone_id: 'zone',
        hypervisor: 'Simulator',
        memory_mb: 1,
        cpus: 1,
        update_count: 0,
        created: 0,
        removed: vm.removed,
      })
      .execute();
  }
  const rows: VmSnapshotRow[] = [];
  for (const [i, s] of specs.entries()) {
    const vmId = VMS[s.vm]!.id;
    const earlier = rows.filter((r) => r.vm_id === vmId);
    const parent =
      s.parent === undefined || earlier.length === 0 ? null : earlier[s.parent % earlier.length]!;
    // Names are unique per VM among live rows (migration 0002): the index keeps them apart.
    const row: VmSnapshotRow = {
      id: `snap-${String(i).padStart(2, '0')}`,
      vm_id: vmId,
      account_id: s.account,
      name: `${s.name}-${i}`,
      display_name: `${s.name}${i}`,
      description: s.description,
      type: 'Disk',
      state: s.state,
      parent_id: parent?.id ?? null,
      current: 0,
      strategy: 'hypervisor',
      quiesce: 0,
      options: '{}',
      details: '{}',
      update_count: 0,
      created: s.created,
      updated: s.created,
      removed: s.removed ? 1 : null,
      policy_id: null,
    };
    rows.push(row);
    await db.insertInto('vm_snapshots').values(row).execute();
    for (const t of s.tags) {
      await db
        .insertInto('resource_tags')
        .values({
          id: `tag-${i}-${t}`,
          key: TAGS[t]!.key,
          value: TAGS[t]!.value,
          resource_type: 'VMSnapshot',
          resource_id: row.id,
          account_id: s.account,
          created: 0,
        })
        .execute();
    }
  }
  return rows;
}

/** The rule the command applied before: filter every live row in memory, sort, slice. */
function inMemory(
  rows: readonly VmSnapshotRow[],
  specs: readonly SnapshotSpec[],
  f: SnapshotListFilter,
): { id: string; vm: string | undefined; parent: string | undefined }[] {
  const live = rows.filter((r) => r.removed === null);
  const tagsOf = (id: string) => {
    const spec = specs[rows.findIndex((r) => r.id === id)]!;
    return spec.tags.map((t) => TAGS[t]!);
  };
  return live
    .filter((s) => f.ids === undefined || f.ids.includes(s.id))
    .filter((s) => f.vmId === undefined || s.vm_id === f.vmId)
    .filter((s) => f.accountId === null || s.account_id === f.accountId)
    .filter((s) => f.states.includes(s.state))
    .filter((s) => f.displayName === undefined || s.display_name === f.displayName)
    .filter((s) => matchesKeyword(f.keyword, s.name, s.display_name, s.description))
    .filter((s) => matchesTags(tagsOf(s.id), f.tags ?? []))
    .sort((a, b) => Number(b.created) - Number(a.created) || byText(b.id, a.id))
    .map((s) => ({
      id: s.id,
      vm: VMS.find((v) => v.id === s.vm_id && v.removed === null)?.id,
      parent: live.find((p) => p.id === s.parent_id)?.id,
    }));
}

const engines = storeEngines();

describe.each(engines)('listSnapshotPage on $name gives what filtering in memory gave', (engine) => {
  let store: OpenedStore;
  let drop: () => Promise<void>;
  const runs = engine.name === 'postgres' ? 30 : 120;

  beforeAll(async () => {
    ({ store, drop } = await engine.open());
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  it('ids, VM, account, state, name, keyword, tags; newest first; page, count, VM and parent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(snapshotSpec, { maxLength: 14 }), filterSpec, page, async (specs, fs, p) => {
        const rows = await insertWorld(store.db, specs);
        const pick = (n: number) => rows[n % Math.max(1, rows.length)]?.id ?? 'none';
        const filter: SnapshotListFilter = {
          ids: fs.ids?.map(pick),
          vmId: fs.vm === undefined ? undefined : VMS[fs.vm]!.id,
          accountId: fs.accountId,
          states: fs.state === undefined ? LISTED_BY_DEFAULT : [fs.state],
          displayName:
            fs.pickName === undefined
              ? undefined
              : rows[fs.pickName % Math.max(1, rows.length)]?.display_name,
          keyword: fs.keyword,
          tags: fs.tags,
        };
        const expected = inMemory(rows, specs, filter);
        const got = await listSnapshotPage(store.db, filter, p);
        const end = p.limit === null ? undefined : p.offset + p.limit;
        expect({
          rows: got.rows.map((r) => ({ id: r.snapshot.id, vm: r.vm?.id, parent: r.parent?.id })),
          total: got.total,
        }).toEqual({ rows: expected.slice(p.offset, end), total: expected.length });
      }),
      { numRuns: runs },
    );
  });

  it('vm_snapshot_counts stays the live rows counted by account and state, through every store write', async () => {
    const snaps = new VmSnapshotStore(store.db);
    const op = fc.record({
      kind: fc.constantFrom('insert', 'event', 'removeRow', 'finalizeDelete', 'hardDelete'),
      target: fc.nat(),
      account: fc.constantFrom(...ACCOUNTS),
      event: fc.constantFrom(...VM_SNAPSHOT_EVENTS),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        await store.db.deleteFrom('vm_snapshots').execute();
        for (const [i, o] of ops.entries()) {
          const live = await store.db
            .selectFrom('vm_snapshots')
            .select('id')
            .where('removed', 'is', null)
            .execute();
          const target = live.length === 0 ? undefined : await snaps.get(live[o.target % live.length]!.id);
          if (o.kind === 'insert' || target === undefined) {
            await snaps.insert({
              ...{ vmId: 'vm-1', accountId: o.account, description: '', type: 'Disk', strategy: 'h' },
              ...{
                id: `op-${i}`,
                name: `op-${i}`,
                displayName: `op-${i}`,
                quiesce: false,
                options: {},
                created: i,
              },
            });
          } else if (o.kind === 'event' && nextState(target.state, o.event) !== undefined) {
            await snaps.fire(target, o.event);
          } else if (o.kind === 'removeRow') {
            await snaps.removeRow(target);
          } else if (o.kind === 'finalizeDelete' && target.state === 'Expunging') {
            await snaps.finalizeDelete(target, []);
          } else if (o.kind === 'hardDelete') {
            await store.db.deleteFrom('vm_snapshots').where('id', '=', target.id).execute();
          }
        }
        const counted = await store.db
          .selectFrom('vm_snapshots')
          .select(['account_id', 'state', (eb) => eb.fn.countAll<number | string>().as('n')])
          .where('removed', 'is', null)
          .groupBy(['account_id', 'state'])
          .execute();
        const kept = await store.db
          .selectFrom('vm_snapshot_counts')
          .select(['account_id', 'state', 'n'])
          .where('n', '<>', 0)
          .execute();
        const asText = (rows: readonly { account_id: string; state: string; n: number | string }[]) =>
          rows.map((r) => `${r.account_id}/${r.state}=${Number(r.n)}`).sort();
        expect(asText(kept)).toEqual(asText(counted));
      }),
      { numRuns: runs / 2 },
    );
  });

  it('shows the VM and parent as a response renders them', async () => {
    const rows = await insertWorld(store.db, [
      {
        vm: 0,
        account: 'acc-a',
        state: 'Ready',
        removed: false,
        name: 'p',
        description: 'd',
        created: 1,
        parent: undefined,
        tags: [],
      },
      {
        vm: 0,
        account: 'acc-a',
        state: 'Ready',
        removed: false,
        name: 'c',
        description: 'd',
        created: 2,
        parent: 0,
        tags: [],
      },
    ]);
    const got = await listSnapshotPage(
      store.db,
      { accountId: null, states: LISTED_BY_DEFAULT },
      { offset: 0, limit: 1 },
    );
    expect(got.total).toBe(2);
    expect(got.rows[0]?.vm).toEqual({
      id: 'vm-1',
      displayName: 'd-vm-1',
      instanceName: 'i-vm-1',
      hypervisor: 'Simulator',
      zoneId: 'zone',
    });
    expect(got.rows[0]?.parent).toEqual({ id: rows[0]!.id, displayName: rows[0]!.display_name });
    expect(got.rows[0]?.snapshot.displayName).toBe(rows[1]!.display_name);
  });
});

describe('snapshot lists and the tree updates on SQLite are served by the scale indexes', () => {
  const { db, captured, planOf } = sqlitePlanDatabase();

  const page = { offset: 0, limit: 500 };
  const states = LISTED_BY_DEFAULT;
  const hotLists: [string, SnapshotListFilter, string][] = [
    ['admin listall', { accountId: null, states }, 'vm_snapshots_live_created'],
    ['one account', { accountId: 'acc-a', states }, 'vm_snapshots_live_account_created'],
    ['one VM', { accountId: 'acc-a', vmId: 'vm-1', states }, 'vm_snapshots_live_vm_created'],
  ];

  it.each(hotLists)('the %s page is read through its index, in order', (_label, filter, index) => {
    const { page: statement } = snapshotPageStatements(db, filter, page);
    const plan = planOf(statement);
    expect(plan).toMatch(
      new RegExp(`SCAN s USING (COVERING )?INDEX ${index}|SEARCH s USING (COVERING )?INDEX ${index}`),
    );
    expect(plan).not.toContain('TEMP B-TREE');
    expect(plan).not.toMatch(/SCAN s( |$)(?!USING)/);
  });

  it("the listall and one-account counts sum vm_snapshot_counts; a VM's count reads an index", () => {
    const [listall, account, vm] = hotLists.map(([, f]) => planOf(snapshotPageStatements(db, f, page).count));
    expect(listall).toContain('vm_snapshot_counts');
    expect(account).toMatch(/SEARCH vm_snapshot_counts USING (COVERING )?INDEX/);
    expect(vm).toMatch(/SEARCH s USING (COVERING )?INDEX vm_snapshots_/);
    expect(vm).not.toContain('TEMP B-TREE');
  });

  it('a delete finds the snapshot children through vm_snapshots_live_parent', async () => {
    const store = new VmSnapshotStore(db);
    const snap = await store.insert({
      id: 'snap-1',
      vmId: 'vm-1',
      accountId: 'acc-a',
      name: 'n',
      displayName: 'n',
      description: '',
      type: 'Disk',
      strategy: 'hypervisor',
      quiesce: false,
      options: {},
      created: 1,
    });
    captured.length = 0;
    await store.removeRow(snap);
    const reparent = captured.find((q) => q.sql.includes('"parent_id" ='));
    expect(reparent).toBeDefined();
    expect(planOf(reparent!)).toContain('INDEX vm_snapshots_live_parent');
  });
});
