/**
 * The ceph-rbd pool provider: `createStoragePool provider=ceph-rbd url=rbd://<user>:<key>@<mons>/<pool>`.
 * Validation reaches the monitors with the given cephx user and key and lists the pool's images,
 * which proves all three (monitor reachable, key accepted, pool present); nothing is created.
 *
 * Capacity comes from `ceph df` (the pool's stored bytes plus what it may still grow by). `ceph df`
 * gets its numbers from the mgr; a cluster without one answers with zeros (`num_osds: 0`). Then the
 * pool's quota (from the osdmap: `ceph osd pool ls detail`, which needs no mgr) is the capacity and `rbd du` the use:
 * real clusters always run a mgr, and the test fixture runs none (no Debian ceph-mgr: ~100 MB of
 * Python and ~1.5 s more bring-up) but sets the quota to the OSD's size.
 */
import { z } from 'zod';
import type { PoolSpec, PoolStats, StoragePoolInfo, StorageProvider } from '../../core/plugin-api.ts';
import { CephCli, CephCliError, ERRNO, type CephCliOptions } from './rbd-cli.ts';
import { parseRbdUrl } from '../../core/rbd-pool-url.ts';

const cephDf = z.object({
  stats: z.object({ num_osds: z.number().optional() }).passthrough(),
  pools: z.array(
    z.object({
      name: z.string(),
      stats: z.object({ stored: z.number(), max_avail: z.number() }).passthrough(),
    }),
  ),
});
const poolDetails = z.array(
  z.object({ pool_name: z.string(), quota_max_bytes: z.number().optional() }).passthrough(),
);
const rbdDu = z.object({ total_used_size: z.number().optional() }).passthrough();

export class CephRbdPoolProvider implements StorageProvider {
  readonly description =
    'Ceph RBD: volumes are RBD images, one RBD group per VM; snapshots are consistency-group snapshots';
  readonly urlSchemes = ['rbd'] as const;

  constructor(private readonly cliFor: (url: string) => CephCli) {}

  async validatePool(spec: PoolSpec): Promise<{ path: string; capacityBytes: number }> {
    const { pool } = parseRbdUrl(spec.url);
    const cli = this.cliFor(spec.url);
    try {
      await cli.json('rbd', ['ls', pool]);
    } catch (err) {
      if (err instanceof CephCliError && err.errno === ERRNO.ENOENT)
        throw new Error(`Ceph pool ${pool} does not exist on the cluster`, { cause: err });
      throw err;
    }
    const stats = await poolStatsOf(cli, pool);
    return { path: pool, capacityBytes: stats.capacityBytes };
  }

  async poolStats(pool: StoragePoolInfo): Promise<PoolStats> {
    return poolStatsOf(this.cliFor(pool.url), parseRbdUrl(pool.url).pool);
  }
}

async function poolStatsOf(cli: CephCli, pool: string): Promise<PoolStats> {
  const df = cephDf.parse(await cli.json('ceph', ['df']));
  const entry = df.pools.find((p) => p.name === pool);
  if ((df.stats.num_osds ?? 0) > 0 && entry !== undefined) {
    return { capacityBytes: entry.stats.stored + entry.stats.max_avail, usedBytes: entry.stats.stored };
  }
  // No mgr: the mon knows the quota, librbd the images' allocated size.
  const details = poolDetails.parse(await cli.json('ceph', ['osd', 'pool', 'ls', 'detail']));
  const du = rbdDu.parse((await cli.json('rbd', ['du', '--pool', pool])) ?? {});
  const quotaBytes = details.find((p) => p.pool_name === pool)?.quota_max_bytes ?? 0;
  return { capacityBytes: quotaBytes, usedBytes: du.total_used_size ?? 0 };
}

export type { CephCliOptions };
