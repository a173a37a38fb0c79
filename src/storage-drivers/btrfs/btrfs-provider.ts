/**
 * The btrfs pool provider: `createStoragePool scope=host hostid=<host> provider=btrfs
 * url=file:///mnt/btrfs/vmsnap`. The folder must exist on that host and be on btrfs; the host's
 * agent checks it (StorageFsStats), since only that host can see it.
 */
import { fileURLToPath } from 'node:url';
import type {
  AgentGateway,
  PoolSpec,
  PoolStats,
  StoragePoolInfo,
  StorageProvider,
} from '../../core/plugin-api.ts';
import { runOnHost } from './host-storage.ts';

export class BtrfsPoolProvider implements StorageProvider {
  readonly description = 'btrfs on one host: a subvolume per VM, atomic read-only snapshots of all its disks';
  readonly urlSchemes = ['file'] as const;

  constructor(private readonly agents: AgentGateway) {}

  async validatePool(spec: PoolSpec): Promise<{ path: string; capacityBytes: number }> {
    if (spec.scope !== 'HOST' || spec.hostId === null)
      throw new Error('a btrfs pool is local to one host: give scope=host and hostid');
    const folder = folderOf(spec.url);
    const stats = await this.stats(spec.hostId, folder);
    return { path: folder, capacityBytes: stats.capacityBytes };
  }

  async poolStats(pool: StoragePoolInfo): Promise<PoolStats> {
    if (pool.hostId === null) throw new Error(`btrfs pool ${pool.name} has no host`);
    return this.stats(pool.hostId, pool.path);
  }

  private async stats(hostId: string, folder: string): Promise<PoolStats> {
    const answer = await runOnHost(this.agents, hostId, { kind: 'StorageFsStats', poolPath: folder });
    if (!answer.exists) throw new Error(`folder ${folder} does not exist on host ${hostId}`);
    if (answer.fsType !== 'btrfs')
      throw new Error(`folder ${folder} on host ${hostId} is on ${answer.fsType}, not on btrfs`);
    return { capacityBytes: answer.capacityBytes, usedBytes: answer.usedBytes };
  }
}

/** The absolute, normalised folder a `file:///…` url names. */
export function folderOf(url: string): string {
  // Checked on the url as given: the URL parser would quietly resolve `/mnt/../etc` to `/etc`.
  if (/\/\.\.?(\/|$)/.test(url) || /%2e/i.test(url))
    throw new Error('a btrfs pool url must name a normalised folder: file:///<folder>, no . or ..');
  let folder: string;
  try {
    folder = fileURLToPath(url);
  } catch {
    throw new Error('a btrfs pool url is file:///<absolute folder on the host>');
  }
  return folder.length > 1 ? folder.replace(/\/+$/, '') : folder;
}
