/** The storage driver conformance suite against the built-in ceph-rbd driver, on a real Ceph. */
import { afterAll, beforeAll } from 'vitest';
import { CephRbdDriver } from '../../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { storageDriverSuite } from '../conformance/storage-driver-suite.ts';
import { describeCeph, startCeph, type TestCeph } from '../helpers/ceph.ts';
import { cephVolumes } from './ceph-volumes.ts';

describeCeph('ceph-rbd on a real Ceph', () => {
  let ceph: TestCeph;
  beforeAll(() => {
    ceph = startCeph('conformance');
  });
  afterAll(() => ceph?.down());

  const pool = (url: string) => ({
    name: 'conformance',
    zoneId: 'zone-1',
    url,
    details: {},
    scope: 'ZONE' as const,
    hostId: null,
  });
  storageDriverSuite(
    'ceph-rbd',
    async () => ({
      driver: new CephRbdDriver(),
      volumes: (count) => cephVolumes(ceph, count),
    }),
    {
      pools: () => ({
        valid: pool(ceph.url()),
        invalid: pool(ceph.url({ pool: 'no-such-pool' })),
        refusal: /^Ceph pool no-such-pool does not exist on the cluster$/,
        secret: ceph.adminKey,
      }),
    },
  );
});
