/** Builders for simulator tests: VM specs, volumes and snapshot TOs as the manager would send them. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  AgentCommand,
  VmSnapshotTO,
  VmSnapshotType,
  VmSpecTO,
  VolumeTO,
} from '../../src/core/plugin-api.ts';

export function volume(id: string, poolId = 'pool-1', size = 1_000): VolumeTO {
  return {
    id,
    type: id.endsWith('root') ? 'ROOT' : 'DATADISK',
    path: `/db/${poolId}/${id}`,
    poolId,
    format: 'QCOW2',
    size,
    deviceId: 0,
  };
}

export function vmSpec(name: string, volumes: VolumeTO[] = [volume(`${name}-root`)]): VmSpecTO {
  return { name, uuid: `uuid-${name}`, memoryMb: 512, cpus: 1, volumes };
}

export function snapshotTo(
  name: string,
  type: VmSnapshotType = 'Disk',
  parent: VmSnapshotTO | null = null,
): VmSnapshotTO {
  return {
    id: `id-${name}`,
    name,
    type,
    description: '',
    current: true,
    quiesce: false,
    createdAt: null,
    parent,
  };
}

export function createSnapshot(
  vmName: string,
  target: VmSnapshotTO,
  options: { quiesce?: boolean; freezeBudgetMs?: number; volumes?: VolumeTO[] } = {},
): Extract<AgentCommand, { kind: 'CreateVMSnapshot' }> {
  return {
    kind: 'CreateVMSnapshot',
    vmName,
    vmUuid: `uuid-${vmName}`,
    target,
    volumes: options.volumes ?? [volume(`${vmName}-root`)],
    quiesce: options.quiesce ?? false,
    ...(options.freezeBudgetMs === undefined ? {} : { freezeBudgetMs: options.freezeBudgetMs }),
  };
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-sim-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
