/** The btrfs pool provider and driver bookkeeping, against a scripted host (no btrfs needed). */
import { describe, expect, it } from 'vitest';
import type {
  AgentCommand,
  AgentGateway,
  AnswerFor,
  PoolSpec,
  StoragePoolInfo,
  VolumeInfo,
} from '../../src/core/plugin-api.ts';
import { parseAgentAnswer } from '../../src/hypervisors/qemu/agent-protocol/answers.ts';
import { parseAgentCommand } from '../../src/hypervisors/qemu/agent-protocol/commands.ts';
import { BtrfsStorageDriver, folderOf } from '../../src/storage-drivers/btrfs/index.ts';

type FsStats = { exists: boolean; fsType: string; capacityBytes: number; usedBytes: number };

function scriptedHost(stats: FsStats): { agents: AgentGateway; sent: [string, AgentCommand][] } {
  const sent: [string, AgentCommand][] = [];
  const agents: AgentGateway = {
    async send<C extends AgentCommand>(hostId: string, command: C): Promise<AnswerFor<C>> {
      sent.push([hostId, command]);
      expect(parseAgentCommand(command).ok).toBe(true); // what the driver sends passes the agent's schema
      return { result: true, ...stats } as unknown as AnswerFor<C>;
    },
  };
  return { agents, sent };
}

const spec = (over: Partial<PoolSpec> = {}): PoolSpec => ({
  name: 'local',
  zoneId: 'z1',
  url: 'file:///mnt/btrfs/vmsnap',
  details: {},
  scope: 'HOST',
  hostId: 'h1',
  ...over,
});

describe('btrfs pool provider', () => {
  it('accepts a btrfs folder on the named host, asking that host', async () => {
    const host = scriptedHost({ exists: true, fsType: 'btrfs', capacityBytes: 8 << 30, usedBytes: 1 << 20 });
    const provider = new BtrfsStorageDriver(host.agents).provider;
    expect(await provider.validatePool(spec())).toEqual({
      path: '/mnt/btrfs/vmsnap',
      capacityBytes: 8 << 30,
    });
    expect(host.sent).toEqual([['h1', { kind: 'StorageFsStats', poolPath: '/mnt/btrfs/vmsnap' }]]);
    const pool = { path: '/mnt/btrfs/vmsnap', hostId: 'h1', name: 'local' } as StoragePoolInfo;
    expect(await provider.poolStats(pool)).toEqual({ capacityBytes: 8 << 30, usedBytes: 1 << 20 });
  });

  it('refuses a folder that is missing or not on btrfs, with the reason', async () => {
    const ext4 = new BtrfsStorageDriver(
      scriptedHost({ exists: true, fsType: 'ext4', capacityBytes: 1, usedBytes: 0 }).agents,
    );
    await expect(ext4.provider.validatePool(spec())).rejects.toThrow(/is on ext4, not on btrfs/);
    const gone = new BtrfsStorageDriver(
      scriptedHost({ exists: false, fsType: '', capacityBytes: 0, usedBytes: 0 }).agents,
    );
    await expect(gone.provider.validatePool(spec())).rejects.toThrow(/does not exist on host h1/);
  });

  it('refuses a zone-wide pool and urls that are not a clean file url, asking no host', async () => {
    const host = scriptedHost({ exists: true, fsType: 'btrfs', capacityBytes: 1, usedBytes: 0 });
    const provider = new BtrfsStorageDriver(host.agents).provider;
    await expect(provider.validatePool(spec({ scope: 'ZONE', hostId: null }))).rejects.toThrow(/scope=host/);
    for (const url of ['rbd://a@b/c', 'file://relative', 'file:///mnt/../etc', 'not a url'])
      await expect(provider.validatePool(spec({ url })), url).rejects.toThrow(/file/);
    expect(host.sent).toEqual([]);
    expect(folderOf('file:///mnt/btrfs/vmsnap/')).toBe('/mnt/btrfs/vmsnap');
  });
});

describe('btrfs driver bookkeeping', () => {
  const pool = { path: '/mnt/b/vmsnap', hostId: 'h1', name: 'local' } as StoragePoolInfo;
  const volume = (p: string): VolumeInfo =>
    ({ id: 'v1', name: 'disk', path: p, pool, size: 1, deviceId: 0 }) as VolumeInfo;

  it('refuses a volume that is not a file in a VM subvolume of its pool, asking no host', async () => {
    const host = scriptedHost({ exists: true, fsType: 'btrfs', capacityBytes: 1, usedBytes: 0 });
    const driver = new BtrfsStorageDriver(host.agents);
    for (const p of [
      '/mnt/b/vmsnap/disk.qcow2',
      '/mnt/b/vmsnap/vms/vm1/sub/disk.qcow2',
      '/elsewhere/vms/vm1/d',
    ])
      await expect(driver.listVolumeSnapshots(volume(p)), p).rejects.toThrow(/not in a VM subvolume/);
    expect(host.sent).toEqual([]);
  });

  it('believes no snapshot or file name with a path in it from a rogue agent', () => {
    for (const name of ['../x', 'a/b', '..']) {
      const answer = { result: true, exists: true, inUse: false, snapshots: [{ name, files: [] }] };
      expect(parseAgentAnswer('StorageSubvolumeList', answer).ok).toBe(false);
      const files = { ...answer, snapshots: [{ name: 's', files: [name] }] };
      expect(parseAgentAnswer('StorageSubvolumeList', files).ok).toBe(false);
    }
  });
});
