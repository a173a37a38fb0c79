/** Builders for agent commands used by the QEMU agent tests. */
import { randomUUID } from 'node:crypto';
import type {
  AgentCommand,
  MemorySnapshotMode,
  VmSnapshotTO,
  VmSnapshotType,
  VmSpecTO,
} from '../../src/core/plugin-api.ts';

export const MIB = 1024 * 1024;

export function vmSpec(name: string, disks = 2, memoryMb = 64): VmSpecTO {
  return {
    name,
    uuid: randomUUID(),
    memoryMb,
    cpus: 1,
    volumes: Array.from({ length: disks }, (_, i) => ({
      id: randomUUID(), // the agent protocol wants volume ids as UUIDs
      type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
      path: '',
      poolId: 'pool',
      format: 'QCOW2' as const,
      size: 64 * MIB,
      deviceId: i,
    })),
  };
}

export function snapTO(name: string, type: VmSnapshotType = 'Disk'): VmSnapshotTO {
  return {
    id: randomUUID(),
    name,
    type,
    description: '',
    current: true,
    quiesce: false,
    createdAt: Date.now(),
    parent: null,
  };
}

export function createSnap(
  vm: VmSpecTO,
  name: string,
  type: VmSnapshotType = 'Disk',
  extra: { quiesce?: boolean; memoryMode?: MemorySnapshotMode; freezeBudgetMs?: number } = {},
): AgentCommand {
  return {
    kind: 'CreateVMSnapshot',
    vmName: vm.name,
    vmUuid: vm.uuid,
    target: snapTO(name, type),
    volumes: vm.volumes,
    quiesce: extra.quiesce ?? false,
    ...(extra.memoryMode ? { memoryMode: extra.memoryMode } : {}),
    ...(extra.freezeBudgetMs !== undefined ? { freezeBudgetMs: extra.freezeBudgetMs } : {}),
  };
}

export function revertSnap(vm: VmSpecTO, name: string, type: VmSnapshotType = 'Disk'): AgentCommand {
  return {
    kind: 'RevertToVMSnapshot',
    vmName: vm.name,
    vmUuid: vm.uuid,
    target: snapTO(name, type),
    volumes: vm.volumes,
  };
}

export function deleteSnap(vm: VmSpecTO, name: string): AgentCommand {
  return { kind: 'DeleteVMSnapshot', vmName: vm.name, target: snapTO(name), volumes: vm.volumes };
}
