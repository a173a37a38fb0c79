/**
 * The built-in `file` driver: pools that are folders of disk files on the hosts (qcow2 files on a
 * local disk or a shared mount). It replaces the magic driver name `hypervisor` of the first
 * versions: such pools are declared like any other (`createStoragePool provider=file
 * url=file:///var/lib/vmsnap/pool`) and listed with their driver.
 *
 * The hypervisor does the snapshots of file volumes (qcow2 internal snapshots or overlays, through
 * the hypervisor strategy), so the driver declares `canSnapshot: false` and the storage strategy
 * never picks it; its per-volume methods refuse, saying so.
 */
import { statfs } from 'node:fs/promises';
import type {
  DriverVolumeSnapshot,
  PoolSpec,
  PoolStats,
  RevertCheck,
  StorageDriver,
  StorageDriverCapabilities,
  StoragePoolInfo,
  StorageProvider,
} from '../../core/plugin-api.ts';
import { FILE_DRIVER_NAME } from '../../core/file-pool.ts';
import { filePoolPath } from './file-pool-url.ts';

export { FILE_DRIVER_NAME };

const NOT_HERE =
  'file pools are snapshotted by the hypervisor (strategy "hypervisor"), not by their storage driver';

export class FileStorageDriver implements StorageDriver {
  readonly name = FILE_DRIVER_NAME;
  readonly capabilities: StorageDriverCapabilities = {
    canSnapshot: false,
    needsQuiesce: false,
    maxSnapshotsPerVolume: null,
  };
  readonly provider: StorageProvider = {
    description: 'Folders of qcow2 files on the hosts (local disk or shared mount): file:///path',
    urlSchemes: ['file'],
    validatePool: (spec) => validateFilePool(spec),
    poolStats: (pool) => poolStats(pool),
  };

  takeVolumeSnapshot(): Promise<DriverVolumeSnapshot> {
    return Promise.reject(new Error(NOT_HERE));
  }

  revertVolumeSnapshot(): Promise<void> {
    return Promise.reject(new Error(NOT_HERE));
  }

  deleteVolumeSnapshot(): Promise<void> {
    return Promise.reject(new Error(NOT_HERE));
  }

  /** The driver holds no snapshots of its own. */
  listVolumeSnapshots(): Promise<readonly string[]> {
    return Promise.resolve([]);
  }

  canRevert(): Promise<RevertCheck> {
    return Promise.resolve({ ok: false, reason: NOT_HERE, blockers: [] });
  }
}

/**
 * The URL must name an absolute folder. The folder is on the hosts, which the management server
 * may not see: a zone-wide folder it does see (a shared mount) is measured; otherwise the pool starts
 * with the capacity the operator gives (createStoragePool capacitybytes), and a host-local one gets
 * its figures from its host's next inventory.
 */
async function validateFilePool(spec: PoolSpec): Promise<{ path: string; capacityBytes: number }> {
  const folder = filePoolPath(spec.url);
  const stats = spec.scope === 'HOST' ? undefined : await folderStats(folder).catch(() => undefined);
  return { path: folder, capacityBytes: stats?.capacityBytes ?? 0 };
}

/**
 * A zone-wide folder (a shared mount, the simulator's) is measured here when this machine sees it.
 * A host-local folder only its host can measure: its agent reports it with the host's inventory,
 * so asking here fails and the figures last reported are shown.
 */
function poolStats(pool: StoragePoolInfo): Promise<PoolStats> {
  if (pool.scope === 'HOST') return Promise.reject(new Error('a host-local folder is measured by its host'));
  return folderStats(pool.path);
}

/** Capacity and use of the file system holding the folder, when this machine can see it. */
async function folderStats(folder: string): Promise<PoolStats> {
  const fs = await statfs(folder);
  return { capacityBytes: fs.blocks * fs.bsize, usedBytes: (fs.blocks - fs.bfree) * fs.bsize };
}
