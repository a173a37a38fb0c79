/**
 * createStoragePool provider=ceph-rbd through the API against a real Ceph: the built-in driver is
 * listed as a provider, a good url makes an Up pool with the quota as capacity, and a wrong key, a
 * missing Ceph pool or an unreachable monitor is refused with a message that says which (never the
 * key), creating nothing.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { describeCeph, startCeph, type TestCeph } from '../helpers/ceph.ts';

describeCeph('createStoragePool provider=ceph-rbd (real Ceph)', () => {
  let ceph: TestCeph;
  let h: ApiHarness;
  let zoneId: string;
  beforeAll(async () => {
    ceph = startCeph('pool-api');
    h = await startApiServer();
    zoneId = h.t.seeded.zoneId;
  });
  afterAll(async () => {
    await h?.close();
    ceph?.down();
  });

  const poolRows = async (): Promise<number> =>
    (await h.t.app.deps.db.selectFrom('storage_pools').select('id').execute()).length;

  it('lists ceph-rbd as a primary storage provider', async () => {
    const providers = itemsOf(
      await h.admin.payload('listStorageProviders', { type: 'primary' }),
      'dataStoreProvider',
    );
    expect(providers.find((p) => p['name'] === 'ceph-rbd')).toMatchObject({
      type: 'PRIMARY',
      urlschemes: 'rbd',
    });
  });

  it('creates an Up pool on a reachable Ceph pool, with its quota as capacity', async () => {
    const payload = await h.admin.payload('createStoragePool', {
      zoneid: zoneId,
      name: 'ceph-good',
      url: ceph.url(),
      provider: 'ceph-rbd',
    });
    const pool = payload['storagepool'] as Record<string, unknown>;
    expect(pool).toMatchObject({ name: 'ceph-good', provider: 'ceph-rbd', path: ceph.pool, state: 'Up' });
    expect(pool['disksizetotal']).toBe(ceph.capacityBytes);
    expect(JSON.stringify(payload)).not.toContain(ceph.adminKey);
  });

  it('refuses a wrong key and a missing Ceph pool, saying which, and creates nothing', async () => {
    const before = await poolRows();
    const wrongKey = execFileSync('ceph-authtool', ['--gen-print-key'], { encoding: 'utf8' }).trim();
    const keyError = errorOf(
      await h.admin.call('createStoragePool', {
        zoneid: zoneId,
        name: 'ceph-wrong-key',
        url: ceph.url({ key: wrongKey }),
        provider: 'ceph-rbd',
      }),
      'createStoragePool',
      530,
    );
    expect(keyError.errortext).toMatch(/cephx authentication failed/);
    expect(keyError.errortext).not.toContain(wrongKey);

    const poolError = errorOf(
      await h.admin.call('createStoragePool', {
        zoneid: zoneId,
        name: 'ceph-no-pool',
        url: ceph.url({ pool: 'no-such-pool' }),
        provider: 'ceph-rbd',
      }),
      'createStoragePool',
      530,
    );
    expect(poolError.errortext).toContain('Ceph pool no-such-pool does not exist on the cluster');
    expect(await poolRows()).toBe(before);
    await expect(ceph.rbd(['ls', 'no-such-pool'])).rejects.toThrow(/No such file/);
  }, 60_000);

  it('refuses an unreachable monitor, naming it (never the key), and creates nothing', async () => {
    const before = await poolRows();
    // Nothing listens on port 1: the client hunts for a monitor until its connect timeout.
    const monError = errorOf(
      await h.admin.call('createStoragePool', {
        zoneid: zoneId,
        name: 'ceph-no-monitor',
        url: ceph.url({ monHost: '127.0.0.1:1' }),
        provider: 'ceph-rbd',
      }),
      'createStoragePool',
      530,
    );
    expect(monError.errortext).toMatch(/no Ceph monitor answered at 127\.0\.0\.1:1/);
    expect(monError.errortext).not.toContain(ceph.adminKey);
    expect(monError.errortext).not.toContain(encodeURIComponent(ceph.adminKey));
    expect(await poolRows()).toBe(before);
    const listed = itemsOf(
      await h.admin.payload('listStoragePools', { name: 'ceph-no-monitor' }),
      'storagepool',
    );
    expect(listed).toEqual([]);
  }, 120_000);
});
