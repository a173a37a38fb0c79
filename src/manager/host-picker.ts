/**
 * CloudStack's VMSnapshotHelperImpl.pickRunningHost: the VM's running host, else its last host if Up,
 * else the first Up host that reaches the root volume's pool.
 */
import type { HostInfo, VmInfo, VolumeInfo } from '../core/plugin-api.ts';
import { InvalidParameterError } from '../core/errors.ts';
import type { InventoryStore } from '../store/inventory-store.ts';

export async function pickHost(
  inventory: InventoryStore,
  vm: VmInfo,
  volumes: readonly VolumeInfo[],
): Promise<HostInfo> {
  if (vm.state === 'Running' && vm.hostId !== null) {
    const host = await inventory.getHost(vm.hostId);
    if (host !== undefined) return host;
  }
  if (vm.lastHostId !== null) {
    const last = await inventory.getHost(vm.lastHostId);
    if (last !== undefined && last.status === 'Up') return last;
  }
  const root = volumes.find((v) => v.type === 'ROOT') ?? volumes[0];
  if (root === undefined) throw new InvalidParameterError('vmInstance has no volumes');
  const pool = await inventory.getPool(root.poolId);
  if (pool === undefined) throw new InvalidParameterError('storage pool is not found');
  const hosts = await inventory.listHosts();
  const up = hosts.find(
    (h) =>
      h.status === 'Up' &&
      h.zoneId === pool.zoneId &&
      h.hypervisor === vm.hypervisor &&
      (pool.hostId === null || pool.hostId === h.id),
  );
  if (up === undefined) throw new InvalidParameterError('no host in up state is found');
  return up;
}
