/**
 * Issue 11, item 1: pools are declared through the API in CloudStack's shapes. listStorageProviders
 * lists the built-in `file` provider and every registered driver with a provider;
 * createStoragePool asks the provider first and creates nothing when it refuses; updateStoragePool
 * changes name, tags, capacity and state; deleteStoragePool is refused while volumes use the pool;
 * deployVirtualMachine storageid puts every volume on the chosen pool. Before, only listStoragePools
 * existed and pools could only be seeded.
 */
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { FAKE_DRIVER, FAKE_KEY, FAKE_URL, FakeProviderDriver } from './fake-provider.ts';

let h: ApiHarness;
let fake: FakeProviderDriver;
let zoneId: string;

beforeAll(async () => {
  h = await startApiServer();
  fake = new FakeProviderDriver();
  h.t.app.deps.registry.registerStorageDriver(fake);
  zoneId = h.t.seeded.zoneId;
});
afterAll(async () => {
  await h.close();
});

async function poolRows(): Promise<number> {
  return (await h.t.app.deps.db.selectFrom('storage_pools').select('id').execute()).length;
}

async function createFakePool(
  name: string,
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const payload = await h.admin.payload('createStoragePool', {
    zoneid: zoneId,
    name,
    url: FAKE_URL,
    provider: FAKE_DRIVER,
    ...extra,
  });
  return payload['storagepool'] as Record<string, unknown>;
}

async function listedPool(id: string): Promise<Record<string, unknown> | undefined> {
  return itemsOf(await h.admin.payload('listStoragePools', { id }), 'storagepool')[0];
}

describe('listStorageProviders', () => {
  it('lists the built-in file provider and a registered driver with a provider, as dataStoreProvider', async () => {
    const payload = await h.admin.payload('listStorageProviders', { type: 'primary' });
    const providers = itemsOf(payload, 'dataStoreProvider');
    expect(providers.map((p) => p['name'])).toEqual(expect.arrayContaining(['file', FAKE_DRIVER]));
    expect(providers.find((p) => p['name'] === FAKE_DRIVER)).toMatchObject({
      type: 'PRIMARY',
      description: 'A fake store for tests',
      urlschemes: 'fake',
    });
  });

  it('has no image providers, refuses another type (431), and is admin-only (432)', async () => {
    expect(await h.admin.payload('listStorageProviders', { type: 'image' })).toEqual({});
    const bad = await h.admin.call('listStorageProviders', { type: 'secondary' });
    expect(errorOf(bad, 'listStorageProviders', 431).errortext).toContain('type');
    errorOf(await h.demo.call('listStorageProviders', { type: 'primary' }), 'listStorageProviders', 432);
  });
});

describe('createStoragePool', () => {
  it('validates with the provider, then lists the pool with provider, capacity, use and state, key masked', async () => {
    const pool = await createFakePool('fast-1', { tags: 'ssd,gold', 'details[0].user': 'admin' });
    const asked = fake.validated.at(-1);
    expect(asked).toMatchObject({ name: 'fast-1', zoneId, url: FAKE_URL, scope: 'ZONE', hostId: null });
    expect(asked?.details).toEqual({ user: 'admin' });
    expect(pool).toMatchObject({
      name: 'fast-1',
      provider: FAKE_DRIVER,
      path: 'tank',
      ipaddress: 'mon1:6789,mon2',
      state: 'Up',
      scope: 'ZONE',
      tags: 'ssd,gold',
      url: 'fake://admin:*****@mon1:6789,mon2/tank',
    });
    const listed = await listedPool(pool['id'] as string);
    // Live stats from the provider, and nothing allocated yet.
    expect(listed).toMatchObject({
      disksizetotal: fake.stats.capacityBytes,
      disksizeused: fake.stats.usedBytes,
      disksizeallocated: 0,
    });
    expect(fake.statsAsked.at(-1)).toMatchObject({ id: pool['id'], url: FAKE_URL, path: 'tank' });
  });

  it('never returns the key: not in create, list or listApis answers', async () => {
    await createFakePool('fast-keyless');
    for (const [command, params] of [
      ['listStoragePools', {}],
      ['listStoragePools', { name: 'fast-keyless' }],
    ] as const) {
      const res = await h.admin.call(command, params);
      expect(res.text).not.toContain(FAKE_KEY);
      expect(res.text).not.toContain(encodeURIComponent(FAKE_KEY));
    }
  });

  it('keeps the URL and details sealed at rest: the raw columns hold neither the key nor the URL', async () => {
    const pool = await createFakePool('sealed-1', { 'details[0].secretkey': FAKE_KEY });
    const raw = new SqliteDatabase(join(h.t.dir, 'vmsnap.db'), { readonly: true });
    let row: Record<string, string> | undefined;
    try {
      row = raw.prepare('SELECT pool_url, pool_details FROM storage_pools WHERE id = ?').get(pool['id']) as
        Record<string, string> | undefined;
    } finally {
      raw.close();
    }
    expect(row?.['pool_url']).toMatch(/^enc:v1:/);
    expect(row?.['pool_details']).toMatch(/^enc:v1:/);
    expect(JSON.stringify(row)).not.toContain('mon1');
    expect(JSON.stringify(row)).not.toContain(FAKE_KEY);
    // Read back through the store: plain, as the provider needs it.
    expect(await h.t.app.deps.inventory.getPool(pool['id'] as string)).toMatchObject({
      url: FAKE_URL,
      details: { secretkey: FAKE_KEY },
    });
  });

  it('refuses when the provider refuses, with a clear CloudStack error and nothing created', async () => {
    const before = await poolRows();
    const wrongKey = await h.admin.call('createStoragePool', {
      zoneid: zoneId,
      name: 'wrong-key',
      url: 'fake://admin:bm90IHRoZSBrZXk=@mon1/tank',
      provider: FAKE_DRIVER,
    });
    expect(errorOf(wrongKey, 'createStoragePool', 530).errortext).toBe(
      'Failed to add data store: the store refused the credentials',
    );
    // A provider that (wrongly) quotes the key: the message reaches the caller without it.
    fake.failure = new Error(`cannot reach ${FAKE_URL} with key ${FAKE_KEY}`);
    try {
      const unreachable = await h.admin.call('createStoragePool', {
        zoneid: zoneId,
        name: 'unreachable',
        url: FAKE_URL,
        provider: FAKE_DRIVER,
      });
      const { errortext } = errorOf(unreachable, 'createStoragePool', 530);
      expect(errortext).toMatch(/^Failed to add data store: cannot reach fake:\/\/admin:\*\*\*\*\*@mon1/);
      expect(errortext).not.toContain(FAKE_KEY);
      expect(unreachable.text).not.toContain(encodeURIComponent(FAKE_KEY));
    } finally {
      fake.failure = undefined;
    }
    expect(await poolRows()).toBe(before);
    expect(
      itemsOf(await h.admin.payload('listStoragePools', { name: 'unreachable' }), 'storagepool'),
    ).toEqual([]);
  });

  it('refuses bad requests with 431 before asking the provider, and nothing is created', async () => {
    const before = await poolRows();
    const asked = fake.validated.length;
    const cases: [Record<string, string>, RegExp][] = [
      [{ provider: 'nope', url: FAKE_URL }, /can't find storage provider: nope/],
      [{ provider: FAKE_DRIVER, url: 'file:///srv/x' }, /must start with fake:\/\//],
      [{ provider: FAKE_DRIVER, url: FAKE_URL, scope: 'host' }, /host id can't be null, if scope is host/],
      [{ provider: FAKE_DRIVER, url: FAKE_URL, scope: 'cluster' }, /no clusters/],
      [{ provider: FAKE_DRIVER, url: FAKE_URL, name: 'sim-primary-1' }, /already exists/],
    ];
    for (const [params, message] of cases) {
      const res = await h.admin.call('createStoragePool', { zoneid: zoneId, name: 'refused', ...params });
      expect(errorOf(res, 'createStoragePool', 431).errortext).toMatch(message);
    }
    expect(fake.validated).toHaveLength(asked);
    expect(await poolRows()).toBe(before);
    errorOf(
      await h.demo.call('createStoragePool', { zoneid: zoneId, name: 'x', url: FAKE_URL }),
      'createStoragePool',
      432,
    );
  });

  it('creates a file pool by default (provider file), with the capacity given', async () => {
    const payload = await h.admin.payload('createStoragePool', {
      zoneid: zoneId,
      name: 'files-2',
      url: 'file:///srv/vmsnap/files-2',
      capacitybytes: 123456789,
    });
    expect(payload['storagepool']).toMatchObject({
      provider: 'file',
      type: 'Filesystem',
      path: '/srv/vmsnap/files-2',
      disksizetotal: 123456789,
      url: 'file:///srv/vmsnap/files-2',
    });
  });
});

describe('updateStoragePool', () => {
  it('changes name, tags and capacity, disables and enables the pool', async () => {
    const pool = await createFakePool('to-update');
    const id = pool['id'] as string;
    fake.stats = { capacityBytes: 0, usedBytes: 0 };
    const updated = await h.admin.payload('updateStoragePool', {
      id,
      name: 'updated',
      tags: 'bronze',
      enabled: false,
    });
    expect(updated['storagepool']).toMatchObject({ id, name: 'updated', tags: 'bronze', state: 'Disabled' });
    const refused = await h.admin.call('deployVirtualMachine', { zoneid: zoneId, storageid: id });
    expect(errorOf(refused, 'deployVirtualMachine', 431).errortext).toContain('is not Up (state Disabled)');
    const enabled = await h.admin.payload('updateStoragePool', { id, enabled: true });
    expect(enabled['storagepool']).toMatchObject({ state: 'Up' });
    const unknown = await h.admin.call('updateStoragePool', { id: '00000000-0000-4000-8000-000000000000' });
    expect(errorOf(unknown, 'updateStoragePool', 431).errortext).toContain('Unable to find storage pool');
  });
});

describe('deployVirtualMachine storageid and deleteStoragePool', () => {
  it('puts every volume on the chosen pool; the pool cannot be deleted while they exist', async () => {
    fake.stats = { capacityBytes: 10 * 1024 ** 4, usedBytes: 0 };
    const pool = await createFakePool('deploy-target');
    const poolId = pool['id'] as string;
    const deployed = await h.admin.payload('deployVirtualMachine', {
      zoneid: zoneId,
      name: 'on-fake',
      disksizes: '1024,2048',
      storageid: poolId,
      startvm: false,
    });
    const job = await h.admin.waitForJob(deployed['jobid'] as string);
    expect(job['jobstatus'], JSON.stringify(job)).toBe(1);
    const volumes = await h.t.app.deps.inventory.volumesOf(deployed['id'] as string);
    expect(volumes.map((v) => [v.poolId, v.driver, v.pool.url])).toEqual([
      [poolId, FAKE_DRIVER, FAKE_URL],
      [poolId, FAKE_DRIVER, FAKE_URL],
    ]);
    expect((await listedPool(poolId))?.['disksizeallocated']).toBe(3072 * 1024 * 1024);

    const refused = await h.admin.call('deleteStoragePool', { id: poolId });
    expect(errorOf(refused, 'deleteStoragePool', 530).errortext).toBe(
      'Cannot delete pool deploy-target as there are associated non-destroyed vols for this pool',
    );
    expect(await listedPool(poolId)).toBeDefined();
  });

  it('deletes a pool no volume uses', async () => {
    const pool = await createFakePool('to-delete');
    expect(await h.admin.payload('deleteStoragePool', { id: pool['id'] as string })).toEqual({
      success: true,
    });
    expect(await listedPool(pool['id'] as string)).toBeUndefined();
  });

  it('refuses storageid to a user (431) and an unknown pool (431)', async () => {
    const pool = await createFakePool('user-target');
    const byUser = await h.demo.call('deployVirtualMachine', {
      zoneid: zoneId,
      storageid: pool['id'] as string,
    });
    expect(errorOf(byUser, 'deployVirtualMachine', 431).errortext).toBe(
      'Only an admin can choose the storage pool',
    );
    const unknown = await h.admin.call('deployVirtualMachine', {
      zoneid: zoneId,
      storageid: '00000000-0000-4000-8000-000000000000',
    });
    expect(errorOf(unknown, 'deployVirtualMachine', 431).errortext).toContain(
      'Unable to find storage pool by id',
    );
  });
});
