/**
 * A storage driver with a provider whose answers a test chooses: `fake://user:key@mon/pool` URLs,
 * a key to accept, failures to raise. It records every spec it was asked to validate.
 */
import type {
  DriverVolumeSnapshot,
  PoolSpec,
  PoolStats,
  RevertCheck,
  StorageDriver,
  StoragePoolInfo,
  StorageProvider,
} from '../../src/core/plugin-api.ts';

export const FAKE_DRIVER = 'fake-store';
export const FAKE_KEY = 'AQBx3Jdl+secret/key==';
export const FAKE_URL = `fake://admin:${encodeURIComponent(FAKE_KEY)}@mon1:6789,mon2/tank`;

export class FakeProviderDriver implements StorageDriver {
  readonly name = FAKE_DRIVER;
  readonly capabilities = { canSnapshot: false, needsQuiesce: false, maxSnapshotsPerVolume: null };
  readonly validated: PoolSpec[] = [];
  readonly statsAsked: StoragePoolInfo[] = [];
  /** Thrown by the next validatePool calls, when set. */
  failure: Error | undefined;
  stats: PoolStats = { capacityBytes: 5 * 1024 ** 4, usedBytes: 3 * 1024 ** 3 };

  readonly provider: StorageProvider = {
    description: 'A fake store for tests',
    urlSchemes: ['fake'],
    validatePool: (spec) => {
      this.validated.push(spec);
      if (this.failure !== undefined) return Promise.reject(this.failure);
      // Several monitors (`mon1:6789,mon2`) are no valid WHATWG URL host: parsed by hand, as RBD's.
      const match = /^fake:\/\/([^:@/]+):([^@]*)@([^/]+)\/(.+)$/.exec(spec.url);
      if (match === null) return Promise.reject(new Error('not a fake:// url'));
      if (decodeURIComponent(match[2]!) !== FAKE_KEY)
        return Promise.reject(new Error('the store refused the credentials'));
      return Promise.resolve({ path: match[4]!, capacityBytes: 4 * 1024 ** 4 });
    },
    poolStats: (pool) => {
      this.statsAsked.push(pool);
      return Promise.resolve(this.stats);
    },
  };

  takeVolumeSnapshot(): Promise<DriverVolumeSnapshot> {
    return Promise.reject(new Error('no snapshots here'));
  }
  revertVolumeSnapshot(): Promise<void> {
    return Promise.reject(new Error('no snapshots here'));
  }
  deleteVolumeSnapshot(): Promise<void> {
    return Promise.resolve();
  }
  listVolumeSnapshots(): Promise<readonly string[]> {
    return Promise.resolve([]);
  }
  canRevert(): Promise<RevertCheck> {
    return Promise.resolve({ ok: false, reason: 'no snapshots here', blockers: [] });
  }
}
