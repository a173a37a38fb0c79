/**
 * An in-memory storage driver without group methods (like Cinder's generic group loop): the
 * strategy must fall back to one call per volume. Records every call with its start and end time.
 */
import type {
  DriverVolumeSnapshot,
  StorageDriver,
  StorageDriverCapabilities,
  StorageSnapshotRef,
  VolumeInfo,
} from '../../src/core/plugin-api.ts';
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
  ) {
    this.capabilities = {
      canSnapshot: true,
      groupSnapshot: false,
      revert: 'any',
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
