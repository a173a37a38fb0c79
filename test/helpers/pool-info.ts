/** A pool as drivers see it, for tests that build VolumeInfo by hand. */
import type { StoragePoolInfo } from '../../src/core/plugin-api.ts';

export function testPoolInfo(driver: string, poolId = `${driver}-pool`): StoragePoolInfo {
  return {
    id: poolId,
    name: poolId,
    zoneId: 'zone-1',
    provider: driver,
    url: `${driver}://${poolId}`,
    details: {},
    scope: 'ZONE',
    hostId: null,
    path: poolId,
  };
}
