/**
 * Issue 11, item 1 (the contract the storage helpers build on): a volume on a non-file pool travels
 * to its host with the pool's connection (VolumeTO.pool), which the agent protocol's schema accepts
 * and checks; a volume on a file pool travels as before. Before, VolumeTO had no pool at all and a
 * host could not reach an RBD image.
 */
import { describe, expect, it } from 'vitest';
import { toVolumeTO, type StoragePoolInfo, type VolumeInfo } from '../../src/core/plugin-api.ts';
import { parseAgentCommand } from '../../src/hypervisors/qemu/agent-protocol/commands.ts';

const RBD_URL = 'rbd://admin:AQBx3JdlAAAAABAAg1cXYZ%2Fkey%3D%3D@127.0.0.1:6789/rbd';

function volumeOn(pool: StoragePoolInfo): VolumeInfo {
  return {
    id: '6b3f0a8e-4c1d-4f3a-9a53-0d3c8c1e2f10',
    name: 'ROOT-1',
    type: 'ROOT',
    poolId: pool.id,
    driver: pool.provider,
    format: pool.provider === 'file' ? 'QCOW2' : 'RAW',
    path: '',
    size: 1024 ** 3,
    deviceId: 0,
    pool,
  };
}

const base = { id: 'p1', name: 'p1', zoneId: 'z', details: {}, scope: 'ZONE', hostId: null } as const;
const rbdPool: StoragePoolInfo = { ...base, provider: 'ceph-rbd', url: RBD_URL, path: 'rbd' };
const filePool: StoragePoolInfo = {
  ...base,
  provider: 'file',
  url: 'file:///var/lib/vmsnap/pool',
  path: '/var/lib/vmsnap/pool',
};

function createVm(volume: object): unknown {
  return {
    kind: 'CreateVM',
    vm: {
      name: 'i-2-3-VM',
      uuid: '0f9b8a1e-2d3c-4b5a-8e7f-6a5b4c3d2e1f',
      memoryMb: 256,
      cpus: 1,
      volumes: [volume],
    },
  };
}

describe('VolumeTO.pool', () => {
  it('carries the connection of a non-file pool, and nothing for a file pool', () => {
    expect(toVolumeTO(volumeOn(rbdPool)).pool).toEqual({ provider: 'ceph-rbd', url: RBD_URL, path: 'rbd' });
    expect(toVolumeTO(volumeOn(filePool))).not.toHaveProperty('pool');
  });

  it('passes the agent protocol schema with its pool, which is kept', () => {
    const parsed = parseAgentCommand(createVm(toVolumeTO(volumeOn(rbdPool))));
    expect(parsed.ok).toBe(true);
    if (parsed.ok && parsed.value.kind === 'CreateVM')
      expect(parsed.value.vm.volumes[0]?.pool).toEqual({ provider: 'ceph-rbd', url: RBD_URL, path: 'rbd' });
  });

  it('refuses a bad provider name, naming the field without echoing the url', () => {
    const to = { ...toVolumeTO(volumeOn(rbdPool)), pool: { provider: '../evil', url: RBD_URL, path: 'rbd' } };
    const parsed = parseAgentCommand(createVm(to));
    expect(parsed.ok).toBe(false);
    const text = JSON.stringify(parsed);
    expect(text).toContain('vm.volumes.0.pool.provider');
    expect(text).not.toContain('AQBx3Jdl');
  });
});
