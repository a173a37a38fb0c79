/**
 * The built-in `ceph-rbd` storage driver. A volume is an RBD image (named by the volume's path, as
 * the host agent creates it, else by its id) in the Ceph pool of its storage pool's url. All of a
 * VM's images in one Ceph pool form one RBD group (`vmsnap-<vm id>`), and a VM snapshot is one
 * `rbd group snap create`: a consistency group, cut at one instant across every image (librbd takes
 * every image's exclusive lock from QEMU for the ~0.1-0.2 s of the cut).
 *
 * Revert is `rbd group snap rollback`, to any snapshot, and only with every image of the group
 * closed: librbd rolls back under a running QEMU without a word, and QEMU then serves stale data
 * (storage-lab pitfall 6). QEMU holds a watch on every image it has open, so `rbd status` watchers
 * are checked in `canRevert` and again right before the rollback.
 *
 * Pacific cannot address one image's piece of a group snapshot (pitfall 5), so revert and delete
 * act on whole group snapshots; a per-volume take (the strategy's fallback) is a plain image snapshot.
 */
import { z } from 'zod';
import type {
  DriverTakeResult,
  DriverVolumeSnapshot,
  RevertCheck,
  StorageDriver,
  StorageDriverCapabilities,
  StorageSnapshotRef,
  VolumeInfo,
} from '../../core/plugin-api.ts';
import { CephRbdPoolProvider } from './ceph-rbd-pool-provider.ts';
import { CephCli, CephCliError, ERRNO, type CephCliOptions } from './rbd-cli.ts';
import {
  formatRef,
  groupNameOf,
  parseRef,
  snapNameOf,
  type RbdSnapshotRef,
} from '../../core/rbd-snapshot-ref.ts';
import { isRbdName, parseRbdUrl } from '../../core/rbd-pool-url.ts';

export const CEPH_RBD_DRIVER = 'ceph-rbd';

const groupImages = z.array(z.object({ image: z.string(), pool: z.string() }).passthrough());
const groupSnaps = z.array(z.object({ snapshot: z.string(), state: z.string() }).passthrough());
const imageSnaps = z.array(
  z
    .object({
      id: z.number(),
      name: z.string(),
      size: z.number().optional(),
      namespace: z
        .object({ type: z.string(), group: z.string().optional(), 'group snap': z.string().optional() })
        .passthrough()
        .optional(),
    })
    .passthrough(),
);
const imageStatus = z.object({ watchers: z.array(z.unknown()).optional() }).passthrough();

/** The volumes of one Ceph pool (one url), with what the CLI needs. */
interface PoolVolumes {
  readonly cli: CephCli;
  readonly pool: string;
  readonly volumes: VolumeInfo[];
}

export class CephRbdDriver implements StorageDriver {
  readonly name = CEPH_RBD_DRIVER;
  readonly capabilities: StorageDriverCapabilities = {
    canSnapshot: true,
    // The group cut is crash-consistent on its own; an application-consistent one still needs the freeze.
    needsQuiesce: true,
    maxSnapshotsPerVolume: null,
  };
  readonly provider: CephRbdPoolProvider;
  private readonly clis = new Map<string, CephCli>();

  constructor(private readonly options: CephCliOptions = {}) {
    this.provider = new CephRbdPoolProvider((url) => this.cliFor(url));
  }

  async takeVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<DriverTakeResult> {
    const group = groupNameOf(snapshot.vmId);
    const snap = snapNameOf(snapshot.id);
    const taken = await Promise.all(
      this.byPool(volumes).map(async ({ cli, pool, volumes: vols }) => {
        await this.ensureGroup(cli, pool, group, vols.map(imageOf));
        await cli.rbd(['group', 'snap', 'create', `${pool}/${group}@${snap}`]);
        return vols.map((v) => piece(v, { kind: 'group', group, snap, image: imageOf(v) }));
      }),
    );
    // vmsnap owns the guest's thaw: the driver never touches the guest.
    return { volumes: taken.flat(), needsUnquiesce: true };
  }

  async takeVolumeSnapshot(volume: VolumeInfo, snapshot: StorageSnapshotRef): Promise<DriverVolumeSnapshot> {
    const { cli, pool } = this.poolOf(volume);
    const ref: RbdSnapshotRef = { kind: 'image', image: imageOf(volume), snap: snapNameOf(snapshot.id) };
    await cli.rbd(['snap', 'create', `${pool}/${ref.image}@${ref.snap}`]);
    return piece(volume, ref);
  }

  async listVolumeSnapshots(volume: VolumeInfo): Promise<readonly string[]> {
    const { cli, pool } = this.poolOf(volume);
    const image = imageOf(volume);
    const snaps = await ignoreMissing(
      async () => imageSnaps.parse(await cli.json('rbd', ['snap', 'ls', '--all', `${pool}/${image}`])),
      [],
    );
    return [...snaps]
      .sort((a, b) => a.id - b.id)
      .flatMap((s): string[] => {
        const ns = s.namespace;
        if (ns === undefined || ns.type === 'user')
          return [formatRef({ kind: 'image', image, snap: s.name })];
        if (ns.type === 'group' && ns.group !== undefined && ns['group snap'] !== undefined)
          return [formatRef({ kind: 'group', group: ns.group, snap: ns['group snap'], image })];
        return []; // trash namespace: already deleted
      });
  }

  async canRevert(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<RevertCheck> {
    const refs = await this.listVolumeSnapshots(volume);
    if (!refs.includes(snapshot.ref))
      return {
        ok: false,
        reason: `snapshot ${snapshot.ref} is gone from RBD image ${imageOf(volume)}`,
        blockers: [],
      };
    const { cli, pool } = this.poolOf(volume);
    if (await isOpen(cli, pool, imageOf(volume)))
      return { ok: false, reason: 'the image is open by a running VM', blockers: [] };
    return { ok: true };
  }

  async revertVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void> {
    const groups = new Map<string, { cli: CephCli; pool: string; group: string; snap: string }>();
    for (const [i, volume] of volumes.entries()) {
      const ref = parseRef(snapshots[i]!.ref);
      const { cli, pool } = this.poolOf(volume);
      if (ref.kind === 'image') {
        await rollbackImage(cli, pool, ref);
        continue;
      }
      groups.set(`${volume.pool.url}\n${ref.group}@${ref.snap}`, {
        cli,
        pool,
        group: ref.group,
        snap: ref.snap,
      });
    }
    for (const g of groups.values()) await rollbackGroup(g.cli, g.pool, g.group, g.snap);
  }

  async revertVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    const ref = parseRef(snapshot.ref);
    const { cli, pool } = this.poolOf(volume);
    if (ref.kind === 'image') return rollbackImage(cli, pool, ref);
    const members = groupImages.parse(
      await cli.json('rbd', ['group', 'image', 'ls', `${pool}/${ref.group}`]),
    );
    if (members.some((m) => m.image !== ref.image))
      throw new Error(
        `RBD image ${ref.image} cannot be rolled back alone: its snapshot is part of group snapshot ` +
          `${ref.group}@${ref.snap} (revert the whole VM snapshot)`,
      );
    await rollbackGroup(cli, pool, ref.group, ref.snap);
  }

  async deleteVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void> {
    const done = new Set<string>();
    for (const [i, volume] of volumes.entries()) {
      const ref = parseRef(snapshots[i]!.ref);
      const key = `${volume.pool.url}\n${ref.kind === 'group' ? `${ref.group}@${ref.snap}` : formatRef(ref)}`;
      if (done.has(key)) continue;
      done.add(key);
      await this.deleteRef(volume, ref);
    }
  }

  /** A group piece removes its whole group snapshot (Pacific cannot remove one image's piece). */
  async deleteVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    await this.deleteRef(volume, parseRef(snapshot.ref));
  }

  /**
   * Recovery: the group snapshot named for `snapshot` in the VM's group, complete ones only. An
   * incomplete one (`state` not `ok`: a create cut off mid-way) is no snapshot; it is removed here so
   * nothing half-made stays on Ceph. Plain image snapshots of the per-volume path are found too.
   */
  async findVmSnapshot(
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<readonly DriverVolumeSnapshot[]> {
    const group = groupNameOf(snapshot.vmId);
    const snap = snapNameOf(snapshot.id);
    const found = await Promise.all(
      this.byPool(volumes).map(async ({ cli, pool, volumes: vols }) => {
        const snaps = await ignoreMissing(
          async () => groupSnaps.parse(await cli.json('rbd', ['group', 'snap', 'ls', `${pool}/${group}`])),
          [],
        );
        const state = snaps.find((s) => s.snapshot === snap)?.state;
        if (state !== undefined && state !== 'ok') {
          await cli.rbd(['group', 'snap', 'rm', `${pool}/${group}@${snap}`]);
        }
        const pieces: DriverVolumeSnapshot[] = [];
        for (const volume of vols) {
          const refs = await this.listVolumeSnapshots(volume);
          const image = imageOf(volume);
          const groupRef = formatRef({ kind: 'group', group, snap, image });
          const imageRef = formatRef({ kind: 'image', image, snap });
          if (state === 'ok' && refs.includes(groupRef)) pieces.push(piece(volume, parseRef(groupRef)));
          else if (refs.includes(imageRef)) pieces.push(piece(volume, parseRef(imageRef)));
        }
        return pieces;
      }),
    );
    return found.flat();
  }

  private async deleteRef(volume: VolumeInfo, ref: RbdSnapshotRef): Promise<void> {
    const { cli, pool } = this.poolOf(volume);
    const target =
      ref.kind === 'group'
        ? ['group', 'snap', 'rm', `${pool}/${ref.group}@${ref.snap}`]
        : ['snap', 'rm', '--no-progress', `${pool}/${ref.image}@${ref.snap}`];
    await ignoreMissing(() => cli.rbd(target), '');
  }

  /** Makes the VM's group exist and hold exactly the VM's images in this pool. */
  private async ensureGroup(
    cli: CephCli,
    pool: string,
    group: string,
    images: readonly string[],
  ): Promise<void> {
    await cli.rbd(['group', 'create', `${pool}/${group}`]).catch((err: unknown) => {
      if (!(err instanceof CephCliError && err.errno === ERRNO.EEXIST)) throw err;
    });
    const members = groupImages.parse(await cli.json('rbd', ['group', 'image', 'ls', `${pool}/${group}`]));
    const have = new Set(members.filter((m) => m.pool === pool).map((m) => m.image));
    for (const image of images) {
      if (!have.has(image))
        await cli
          .rbd(['group', 'image', 'add', `${pool}/${group}`, `${pool}/${image}`])
          .catch((err: unknown) => {
            throw new Error(
              `cannot add RBD image ${pool}/${image} to group ${group}: ${(err as Error).message}`,
            );
          });
    }
    for (const stale of [...have].filter((image) => !images.includes(image)))
      await cli.rbd(['group', 'image', 'rm', `${pool}/${group}`, `${pool}/${stale}`]);
  }

  private cliFor(url: string): CephCli {
    let cli = this.clis.get(url);
    if (cli === undefined) {
      const { monitors, user, key } = parseRbdUrl(url);
      cli = new CephCli({ monitors, user, key }, this.options);
      this.clis.set(url, cli);
    }
    return cli;
  }

  private poolOf(volume: VolumeInfo): { cli: CephCli; pool: string } {
    return { cli: this.cliFor(volume.pool.url), pool: parseRbdUrl(volume.pool.url).pool };
  }

  private byPool(volumes: readonly VolumeInfo[]): PoolVolumes[] {
    const pools = new Map<string, PoolVolumes>();
    for (const volume of volumes) {
      const entry = pools.get(volume.pool.url) ?? { ...this.poolOf(volume), volumes: [] };
      entry.volumes.push(volume);
      pools.set(volume.pool.url, entry);
    }
    return [...pools.values()];
  }
}

/** The RBD image of a volume: its path (the host agent's image name), else its id. */
export function imageOf(volume: VolumeInfo): string {
  const name = volume.path !== '' ? volume.path : volume.id;
  if (!isRbdName(name)) throw new Error(`volume ${volume.name} has no RBD image name (path ${name})`);
  return name;
}

function piece(volume: VolumeInfo, ref: RbdSnapshotRef): DriverVolumeSnapshot {
  return { volumeId: volume.id, ref: formatRef(ref), size: volume.size };
}

async function isOpen(cli: CephCli, pool: string, image: string): Promise<boolean> {
  const status = imageStatus.parse(await cli.json('rbd', ['status', `${pool}/${image}`]));
  return (status.watchers ?? []).length > 0;
}

/** Refuses while any image the rollback touches is open: never roll back under a running QEMU. */
async function refuseIfOpen(cli: CephCli, pool: string, images: readonly string[]): Promise<void> {
  for (const image of images) {
    if (await isOpen(cli, pool, image))
      throw new Error(`RBD image ${pool}/${image} is open by a running VM: stop it before reverting`);
  }
}

async function rollbackGroup(cli: CephCli, pool: string, group: string, snap: string): Promise<void> {
  const members = groupImages.parse(await cli.json('rbd', ['group', 'image', 'ls', `${pool}/${group}`]));
  await refuseIfOpen(
    cli,
    pool,
    members.filter((m) => m.pool === pool).map((m) => m.image),
  );
  await cli.rbd(['group', 'snap', 'rollback', '--no-progress', `${pool}/${group}@${snap}`]);
}

async function rollbackImage(
  cli: CephCli,
  pool: string,
  ref: { image: string; snap: string },
): Promise<void> {
  await refuseIfOpen(cli, pool, [ref.image]);
  await cli.rbd(['snap', 'rollback', '--no-progress', `${pool}/${ref.image}@${ref.snap}`]);
}

/** Runs `fn`; a missing image, group or snapshot (ENOENT) gives `fallback`. */
async function ignoreMissing<T>(fn: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CephCliError && err.errno === ERRNO.ENOENT) return fallback;
    throw err;
  }
}
