/**
 * Where a volume of a btrfs pool lives, and how the driver names its snapshots.
 *
 * A volume's file is `<pool path>/vms/<subvolume>/<file>` on the pool's host; the subvolume is the
 * VM's (named after it) and a snapshot of it holds every disk of the VM at one instant. A driver
 * ref is `<snapshot>/<file>`: the subvolume snapshot and the volume's file in it. Snapshot names:
 * - `<vmsnap snapshot id>` for a group take (all the VM's disks, one cut);
 * - `<vmsnap snapshot id>_<file>` for a per-volume take, which counts for that one volume only.
 */
import path from 'node:path';
import type { DriverVolumeSnapshot, VolumeInfo } from '../../core/plugin-api.ts';

export interface VolumePlace {
  readonly hostId: string;
  readonly poolPath: string;
  readonly subvolume: string;
  readonly file: string;
}

export function placeOf(volume: VolumeInfo): VolumePlace {
  const pool = volume.pool;
  if (pool.hostId === null) throw new Error(`btrfs pool ${pool.name} has no host (it must be host-scoped)`);
  const parts = path.relative(pool.path, volume.path).split(path.sep);
  if (parts.length !== 3 || parts[0] !== 'vms' || parts.some((p) => p === '' || p === '..')) {
    throw new Error(`volume ${volume.name} is not in a VM subvolume of btrfs pool ${pool.name}`);
  }
  return { hostId: pool.hostId, poolPath: pool.path, subvolume: parts[1]!, file: parts[2]! };
}

/** One key per subvolume: a VM's volumes normally share one. */
export function subvolumeKey(place: VolumePlace): string {
  return `${place.hostId}\n${place.poolPath}\n${place.subvolume}`;
}

export function perVolumeSnapshotName(snapshotId: string, file: string): string {
  return `${snapshotId}_${file}`;
}

/** Whether subvolume snapshot `name` counts as a snapshot of the volume stored in `file`. */
export function countsFor(name: string, file: string): boolean {
  return !name.includes('_') || name.endsWith(`_${file}`);
}

export function isGroupSnapshot(name: string): boolean {
  return !name.includes('_');
}

export function refOf(snapshot: string, file: string): string {
  return `${snapshot}/${file}`;
}

export function parseRef(snapshot: DriverVolumeSnapshot): { snapshot: string; file: string } {
  const at = snapshot.ref.lastIndexOf('/');
  if (at <= 0) throw new Error(`not a btrfs snapshot reference: ${snapshot.ref}`);
  return { snapshot: snapshot.ref.slice(0, at), file: snapshot.ref.slice(at + 1) };
}

/** Volumes grouped by their subvolume, keeping each group's place. */
export function bySubvolume<T extends { volume: VolumeInfo }>(
  items: readonly T[],
): { place: VolumePlace; items: T[] }[] {
  const groups = new Map<string, { place: VolumePlace; items: T[] }>();
  for (const item of items) {
    const place = placeOf(item.volume);
    const key = subvolumeKey(place);
    const group = groups.get(key) ?? { place, items: [] };
    group.items.push(item);
    groups.set(key, group);
  }
  return [...groups.values()];
}
