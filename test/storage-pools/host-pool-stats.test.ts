/**
 * Issue 11, item 1: listStoragePools shows capacity and use. A host-local file pool is measured by
 * its host only (the management server's own folder of that name, if any, is another disk): the
 * figures come from each inventory the host reports, and the pool is a HOST-scoped `file` pool with
 * a `file://` URL. Before, an imported pool kept the capacity of its first report, no use at all,
 * and was served by the magic driver name `hypervisor`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts';

const TiB = 1024 ** 4;
let h: ApiHarness;
let fake: FakeAgent;

beforeAll(async () => {
  h = await startApiServer();
  fake = await startFakeAgent();
  fake.inventory.pools.push({ name: 'own', path: '/var/lib/vmsnap/pool', capacityBytes: TiB, usedBytes: 0 });
});
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

describe('a host-local file pool', () => {
  it('is imported as a HOST-scoped file pool and shows the figures its host reports', async () => {
    const added = await h.admin.payload('addHost', {
      zoneid: h.t.seeded.zoneId,
      hypervisor: 'KVM',
      url: fake.url,
      password: 'fake-token-xxxxxxxx',
    });
    const hostId = String(itemsOf(added, 'host')[0]?.['id']);
    const listed = async () =>
      itemsOf(await h.admin.payload('listStoragePools', { hostid: hostId }), 'storagepool');
    expect(await listed()).toEqual([
      expect.objectContaining({
        provider: 'file',
        type: 'Filesystem',
        scope: 'HOST',
        hostid: hostId,
        path: '/var/lib/vmsnap/pool',
        url: 'file:///var/lib/vmsnap/pool',
        disksizetotal: TiB,
        disksizeused: 0,
      }),
    ]);

    fake.inventory.pools[0] = {
      name: 'own',
      path: '/var/lib/vmsnap/pool',
      capacityBytes: 2 * TiB,
      usedBytes: 5e9,
    };
    await h.t.app.hostManager.sync(hostId, h.t.admin.accountId);
    expect(await listed()).toEqual([expect.objectContaining({ disksizetotal: 2 * TiB, disksizeused: 5e9 })]);
  });
});
