/**
 * listVolumes' SQL-paged read (listVolumePage) against the rule it replaces (issue 15, item 2):
 * every live volume and every live VM read into memory, grouped by VM in the VMs' creation order,
 * each VM's volumes by device id, filtered by account, VM, volume id, type and keyword, sliced.
 * Property tests on random worlds, filters and pages, on SQLite and, when available, PostgreSQL.
 * On SQLite, the query plans show that a page is read through the VMs' creation-order indexes and
 * each VM's volumes through volumes_vm: no scan of the volume table, no sort of every row.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesKeyword } from '../../src/api/list-support.ts';
import type { Db, OpenedStore } from '../../src/store/database.ts';
import type { PageRequest } from '../../src/store/list-page.ts';
import {
  listVolumePage,
  volumePageStatements,
  type VolumeListFilter,
} from '../../src/store/volume-list-store.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';
import { storeEngines } from '../helpers/store-engines.ts';

const ACCOUNTS = ['acc-a', 'acc-b'] as const;
const TYPES = ['ROOT', 'DATADISK'] as const;
const text = fc.string({ unit: fc.constantFrom('a', 'B', '%', '_'), maxLength: 3 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const vmSpec = fc.record({
  account: fc.constantFrom(...ACCOUNTS),
  created: fc.integer({ min: 0, max: 3 }),
  removed: fc.boolean(),
  volumes: fc.array(
    fc.record({ type: fc.constantFrom(...TYPES), name: text, removed: fc.boolean(), device: fc.nat(5) }),
    { maxLength: 3 },
  ),
});
type VmSpec = typeof vmSpec extends fc.Arbitrary<infer T> ? T : never;

const filterSpec = fc.record({
  accountId: fc.constantFrom<string | null>(null, ...ACCOUNTS),
  vm: maybe(fc.nat()),
  volume: maybe(fc.nat()),
  type: maybe(fc.constantFrom('root', 'DATADISK', 'other')),
  keyword: maybe(text),
});

const page: fc.Arbitrary<PageRequest> = fc.oneof(
  fc.constant({ offset: 0, limit: null }),
  fc.record({ offset: fc.integer({ min: 0, max: 8 }), limit: fc.integer({ min: 1, max: 4 }) }),
);

interface WorldVolume {
  readonly id: string;
  readonly vmId: string;
  readonly name: string;
  readonly type: string;
  readonly device: number;
  readonly removed: boolean;
}
interface WorldVm {
  readonly id: string;
  readonly account: string;
  readonly created: number;
  readonly removed: boolean;
}

async function insertWorld(
  db: Db,
  specs: readonly VmSpec[],
): Promise<{ vms: WorldVm[]; volumes: WorldVolume[] }> {
  await db.deleteFrom('volumes').execute();
  await db.deleteFrom('vms').execute();
  await db.deleteFrom('storage_pools').execute();
  await db
    .insertInto('storage_pools')
    .values({
      id: 'pool-1',
      zone_id: 'zone',
      name: 'primary',
      driver: 'hypervisor',
      path: '/pool',
      host_id: null,
      capacity_bytes: 1,
      created: 0,
      removed: null,
    })
    .execute();
  const vms: WorldVm[] = [];
  const volumes: WorldVolume[] = [];
  for (const [i, s] of specs.entries()) {
    const vm: WorldVm = {
      id: `vm-${String(i).padStart(2, '0')}`,
      account: s.account,
      created: s.created,
      removed: s.removed,
    };
    vms.push(vm);
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
        created: vm.created,
        removed: vm.removed ? 1 : null,
      })
      .execute();
    for (const [k, v] of s.volumes.entries()) {
      const volume: WorldVolume = {
        id: `vol-${i}-${k}`,
        vmId: vm.id,
        name: `${v.name}${k}`,
        type: v.type,
        // Device ids are unique per VM.
        device: v.device * 3 + k,
        removed: v.removed,
      };
      volumes.push(volume);
      await db
        .insertInto('volumes')
        .values({
          id: volume.id,
          vm_id: vm.id,
          name: volume.name,
          type: volume.type,
          pool_id: 'pool-1',
          format: 'QCOW2',
          path: `/pool/${volume.id}`,
          size: 1,
          device_id: volume.device,
          state: 'Ready',
          created: vm.created,
          removed: volume.removed ? 1 : null,
        })
        .execute();
    }
  }
  return { vms, volumes };
}

/** The rule listVolumes applied before: live VMs in creation order, each VM's live volumes by device. */
function inMemory(world: { vms: WorldVm[]; volumes: WorldVolume[] }, f: VolumeListFilter): string[] {
  const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return world.vms
    .filter((vm) => !vm.removed)
    .filter((vm) => f.accountId === null || vm.account === f.accountId)
    .filter((vm) => f.vmId === undefined || vm.id === f.vmId)
    .sort((a, b) => a.created - b.created || byText(a.id, b.id))
    .flatMap((vm) =>
      world.volumes
        .filter((v) => v.vmId === vm.id && !v.removed)
        .sort((a, b) => a.device - b.device)
        .filter((v) => f.id === undefined || v.id === f.id)
        .filter((v) => f.type === undefined || v.type === f.type.toUpperCase())
        .filter((v) => matchesKeyword(f.keyword, v.name))
        .map((v) => v.id),
    );
}

const engines = storeEngines();

describe.each(engines)('listVolumePage on $name gives what listing in memory gave', (engine) => {
  let store: OpenedStore;
  let drop: () => Promise<void>;
  const runs = engine.name === 'postgres' ? 30 : 100;

  beforeAll(async () => {
    ({ store, drop } = await engine.open());
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  it('account, VM, id, type, keyword; VMs by creation, volumes by device; page and count', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(vmSpec, { maxLength: 6 }), filterSpec, page, async (specs, fs, p) => {
        const world = await insertWorld(store.db, specs);
        const pickVm = (n: number) => world.vms[n % Math.max(1, world.vms.length)]?.id ?? 'none';
        const pickVolume = (n: number) => world.volumes[n % Math.max(1, world.volumes.length)]?.id ?? 'none';
        const filter: VolumeListFilter = {
          accountId: fs.accountId,
          vmId: fs.vm === undefined ? undefined : pickVm(fs.vm),
          id: fs.volume === undefined ? undefined : pickVolume(fs.volume),
          type: fs.type,
          keyword: fs.keyword,
        };
        const expected = inMemory(world, filter);
        const got = await listVolumePage(store.db, filter, p);
        const end = p.limit === null ? undefined : p.offset + p.limit;
        expect({ ids: got.rows.map((r) => r.volume.id), total: got.total }).toEqual({
          ids: expected.slice(p.offset, end),
          total: expected.length,
        });
      }),
      { numRuns: runs },
    );
  });

  it('shows each volume with its VM and its pool driver', async () => {
    await insertWorld(store.db, [
      {
        account: 'acc-a',
        created: 5,
        removed: false,
        volumes: [{ type: 'ROOT', name: 'r', removed: false, device: 0 }],
      },
    ]);
    const got = await listVolumePage(store.db, { accountId: 'acc-a' }, { offset: 0, limit: 10 });
    expect(got.rows).toEqual([
      {
        volume: {
          id: 'vol-0-0',
          name: 'r0',
          type: 'ROOT',
          poolId: 'pool-1',
          driver: 'hypervisor',
          format: 'QCOW2',
          path: '/pool/vol-0-0',
          size: 1,
          deviceId: 0,
          state: 'Ready',
          created: 5,
        },
        vm: expect.objectContaining({ id: 'vm-00', accountId: 'acc-a', instanceName: 'i-vm-00', created: 5 }),
      },
    ]);
  });
});

describe('a listVolumes page on SQLite is an index range read, not a read of every volume', () => {
  const { db, planOf } = sqlitePlanDatabase();

  const page = { offset: 0, limit: 500 };

  it.each([
    ['admin listall', { accountId: null }, 'vms_live_created'],
    ['one account', { accountId: 'acc-a' }, 'vms_live_account_created'],
  ] as const)('the %s page walks the VMs in order and searches each VM’s volumes', (_l, filter, index) => {
    const plan = planOf(volumePageStatements(db, filter, page).page);
    expect(plan).toMatch(new RegExp(`(SCAN|SEARCH) m USING (COVERING )?INDEX ${index}`));
    expect(plan).toMatch(/SEARCH v USING (COVERING )?INDEX volumes_vm \(vm_id=\?\)/);
    // Sorting a VM's few volumes by device id is allowed; sorting every row is not.
    expect(plan).not.toMatch(/USE TEMP B-TREE FOR ORDER BY/);
    expect(plan).not.toMatch(/SCAN v( |$)/);
  });

  it('one VM’s page searches that VM by its key', () => {
    const plan = planOf(volumePageStatements(db, { accountId: null, vmId: 'vm-1' }, page).page);
    expect(plan).toMatch(/SEARCH m USING (COVERING )?INDEX sqlite_autoindex_vms_1 \(id=\?\)/);
    expect(plan).not.toMatch(/SCAN (m|v)( |$)/);
  });
});
