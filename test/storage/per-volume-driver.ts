/**
 * An in-memory storage driver without group methods (like Cinder's generic group loop): the
 * strategy must fall back to one call per volume. Records every call with its start and end time.
 */
import type {
  DriverVolumeSnapshot,
  RevertCheck,
  StorageDriver,
  StorageDriverCapabilities,
  StorageSnapshotRef,
  VolumeInfo,
} from 'vmsnap/plugin-api';
import { sleep } from './fake-strategy-context.ts';

export interface DriverCall {
  readonly method: string;
  readonly volumeId: string;
  readonly start: number;
  end: number;
}

export class PerVolumeDriver implements StorageDriver {
  readonly capabilities: StorageDriverCapabilities;
  readonly calls: DriverCall[] = [];
  /** Volume ids whose next take fails. */
  readonly failTakeOn = new Set<string>();
  private readonly snapshots = new Map<string, string[]>();
  private seq = 0;

  constructor(
    readonly name = 'plain',
    private readonly latencyMs = 0,
    capabilities: Partial<StorageDriverCapabilities> = {},
    /** Like ZFS: a volume reverts only to its newest snapshot. */
    private readonly latestOnly = false,
  ) {
    this.capabilities = {
      canSnapshot: true,
      needsQuiesce: true,
      maxSnapshotsPerVolume: null,
      ...capabilities,
    };
  }

  callsOf(method: string): DriverCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async takeVolumeSnapshot(volume: VolumeInfo, _snapshot: StorageSnapshotRef): Promise<DriverVolumeSnapshot> {
    return this.record('takeVolumeSnapshot', volume.id, () => {
      if (this.failTakeOn.delete(volume.id)) throw new Error(`volume ${volume.id} is busy`);
      this.seq += 1;
      const ref = `${this.name}-snap-${this.seq}`;
      this.snapshots.set(volume.id, [...(this.snapshots.get(volume.id) ?? []), ref]);
      return { volumeId: volume.id, ref, size: volume.size };
    });
  }

  async revertVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    await this.record('revertVolumeSnapshot', volume.id, () => {
      if (!this.refsOf(volume.id).includes(snapshot.ref)) throw new Error(`no snapshot ${snapshot.ref}`);
    });
  }

  async deleteVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void> {
    await this.record('deleteVolumeSnapshot', volume.id, () => {
      this.snapshots.set(
        volume.id,
        this.refsOf(volume.id).filter((r) => r !== snapshot.ref),
      );
    });
  }

  async listVolumeSnapshots(volume: VolumeInfo): Promise<readonly string[]> {
    return this.refsOf(volume.id);
  }

  async canRevert(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<RevertCheck> {
    const refs = this.refsOf(volume.id);
    const at = refs.indexOf(snapshot.ref);
    if (at < 0) return { ok: false, reason: `no snapshot ${snapshot.ref}`, blockers: [] };
    const newer = refs.slice(at + 1);
    if (!this.latestOnly || newer.length === 0) return { ok: true };
    return { ok: false, reason: 'only the newest snapshot can be reverted', blockers: newer };
  }

  refsOf(volumeId: string): string[] {
    return this.snapshots.get(volumeId) ?? [];
  }

  private async record<T>(method: string, volumeId: string, act: () => T): Promise<T> {
    const call: DriverCall = { method, volumeId, start: Date.now(), end: 0 };
    this.calls.push(call);
    try {
      await sleep(this.latencyMs);
      return act();
    } finally {
      call.end = Date.now();
    }
  }
}
