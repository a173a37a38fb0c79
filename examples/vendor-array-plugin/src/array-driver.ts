/**
 * The vmsnap storage driver for the (simulated) vendor array: maps the driver contract onto the
 * array's API. Group calls become one consistency-group cut; per-volume calls are one-member groups.
 */
import type {
  DriverTakeResult,
  DriverVolumeSnapshot,
  PoolSpec,
  RevertCheck,
  StorageDriver,
  StorageDriverCapabilities,
  StorageProvider,
  StorageSnapshotRef,
  VolumeInfo,
} from 'vmsnap/plugin-api';
import type { SimulatedArray, VolumeRequest } from './simulated-array.ts';

export interface ArrayStorageDriverOptions {
  /** Driver name pools refer to; default `vendor-array`. */
  readonly name?: string;
  /** Whether vmsnap should freeze the guest around this driver's cut; default true. */
  readonly needsQuiesce?: boolean;
}

export const DEFAULT_DRIVER_NAME = 'vendor-array';

/** The capacity the simulated array reports for every pool: 1 TiB. */
export const ARRAY_POOL_CAPACITY = 1024 ** 4;

export class ArrayStorageDriver implements StorageDriver {
  readonly name: string;
  readonly capabilities: StorageDriverCapabilities;
  /**
   * Pools on the array are declared with `createStoragePool provider=<name> url=<name>://<pool>`:
   * the array must answer (an armed `list` fault makes the check fail, as an unreachable array).
   */
  readonly provider: StorageProvider;

  constructor(
    /** Exposed so tests and operators can arm faults or inspect the array at run time. */
    readonly array: SimulatedArray,
    options: ArrayStorageDriverOptions = {},
  ) {
    this.name = options.name ?? DEFAULT_DRIVER_NAME;
    this.capabilities = {
      canSnapshot: true,
      needsQuiesce: options.needsQuiesce ?? true,
      maxSnapshotsPerVolume: array.maxSnapshotsPerVolume,
    };
    const scheme = this.name;
    this.provider = {
      description:
        "The example vendor array (simulated): consistency-group snapshots of all of a VM's volumes",
      urlSchemes: [scheme],
      validatePool: async (spec: PoolSpec) => {
        const name = poolNameOf(spec.url, scheme);
        await array.poolUsage(name);
        return { path: name, capacityBytes: ARRAY_POOL_CAPACITY };
      },
      poolStats: async (pool) => ({
        capacityBytes: ARRAY_POOL_CAPACITY,
        usedBytes: await array.poolUsage(pool.id),
      }),
    };
  }

  async takeVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<DriverTakeResult> {
    const taken = await this.array.snapshotGroup(volumes.map(toRequest), snapshot.name);
    return {
      volumes: taken.map((s, i) => ({ volumeId: volumes[i]!.id, ref: s.id, size: s.size })),
      // The array never touches the guest, so vmsnap still owns the thaw.
      needsUnquiesce: true,
    };
  }

  async revertVmSnapshot(
    _volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void> {
    await this.array.revertGroup(snapshots.map(toTarget));
  }

  async deleteVmSnapshot(
    _volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void> {
    await this.array.deleteSnapshots(snapshots.map(toTarget));
  }

  async takeVolumeSnapshot(volume: VolumeInfo, snapshot: StorageSnapshotRef): Promise<DriverVolumeSnapshot> {
    const result = await this.takeVmSnapshot([volume], snapshot);
    const only = result.volumes[0];
    if (!only) throw new Error(`array returned no snapshot for volume ${volume.id}`);
    return only;
  }

  async revertVolumeSnapshot(_volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    await this.array.revertGroup([toTarget(snapshot)]);
  }

  async deleteVolumeSnapshot(_volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    await this.array.deleteSnapshots([toTarget(snapshot)]);
  }

  async listVolumeSnapshots(volume: VolumeInfo): Promise<readonly string[]> {
    return this.array.listSnapshots(volume.id);
  }

  /** The array's own rule: the snapshot must exist, and in latest-only mode be the newest. */
  async canRevert(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<RevertCheck> {
    const { missing, newer } = await this.array.revertBlockers(volume.id, snapshot.ref);
    if (missing) {
      return { ok: false, reason: `snapshot ${snapshot.ref} no longer exists on the array`, blockers: [] };
    }
    if (newer.length === 0) return { ok: true };
    return {
      ok: false,
      reason: 'the array can only revert to the latest snapshot',
      blockers: newer,
    };
  }

  /** The array keeps the vmsnap snapshot's name on every member of the cut. */
  async findVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<readonly DriverVolumeSnapshot[]> {
    // Another server may have cut it: ask the array, not this process's copy.
    await this.array.refresh();
    const found: DriverVolumeSnapshot[] = [];
    for (const volume of volumes) {
      const match = this.array.getVolume(volume.id)?.snapshots.find((s) => s.name === snapshot.name);
      if (match) found.push({ volumeId: volume.id, ref: match.id, size: match.size });
    }
    return found;
  }
}

function toRequest(volume: VolumeInfo): VolumeRequest {
  return { volumeId: volume.id, poolId: volume.poolId, size: volume.size };
}

function toTarget(snapshot: DriverVolumeSnapshot): { volumeId: string; snapshotId: string } {
  return { volumeId: snapshot.volumeId, snapshotId: snapshot.ref };
}

/** `<scheme>://<pool>`: the array's pool name. */
function poolNameOf(url: string, scheme: string): string {
  const prefix = `${scheme}://`;
  const name = url.startsWith(prefix) ? url.slice(prefix.length) : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new Error(`the url of an array pool is ${prefix}<pool name> (letters, digits, . _ -)`);
  return name;
}
