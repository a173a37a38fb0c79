/** The storage driver conformance suite against the `btrfs` driver, on a real btrfs through a real agent. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBtrfs } from '../helpers/btrfs.ts';
import { storageDriverSuite } from '../conformance/storage-driver-suite.ts';
import { HOST_ID, openBtrfsHost, type BtrfsHost } from './btrfs-host.ts';

describeBtrfs('btrfs driver', () => {
  let host: BtrfsHost;
  beforeAll(async () => {
    host = await openBtrfsHost('conformance');
  }, 60_000);
  afterAll(async () => host?.close(), 120_000);

  it('validates a pool on the host: a btrfs folder passes, a missing one is refused', async () => {
    const spec = { name: 'p', zoneId: 'z', details: {}, scope: 'HOST' as const, hostId: HOST_ID };
    const valid = await host.driver.provider.validatePool({ ...spec, url: host.pool.url });
    expect(valid.path).toBe(host.pool.path);
    expect(valid.capacityBytes).toBeGreaterThan(0);
    const stats = await host.driver.provider.poolStats(host.pool);
    expect(stats.usedBytes).toBeGreaterThan(0);
    expect(stats.usedBytes).toBeLessThanOrEqual(stats.capacityBytes);
    await expect(
      host.driver.provider.validatePool({ ...spec, url: `${host.pool.url}/missing` }),
    ).rejects.toThrow(/does not exist/);
  });

  const pool = (url: string) => ({
    name: 'conformance',
    zoneId: 'z',
    url,
    details: {},
    scope: 'HOST' as const,
    hostId: HOST_ID,
  });
  storageDriverSuite(
    'btrfs (real btrfs, QEMU host agent)',
    async () => {
      const vmName = `conf-${randomUUID().slice(0, 8)}`;
      return {
        driver: host.driver,
        volumes: async (count) => (await host.createVm(vmName, count, 1)).volumes,
        close: async () => {
          const answer = await host.agent.execute({ kind: 'DestroyVM', vmName });
          if (!answer.result && !answer.details.includes('not defined')) throw new Error(answer.details);
        },
      };
    },
    {
      pools: () => ({
        valid: pool(host.pool.url),
        invalid: pool(`${host.pool.url}/missing`),
        refusal: /does not exist/,
      }),
    },
  );
});
