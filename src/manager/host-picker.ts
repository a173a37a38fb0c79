/**
 * Which host does the work. For a snapshot, CloudStack's VMSnapshotHelperImpl.pickRunningHost: the
 * VM's running host, else its last host if Up, else the first Up host that reaches the root volume's
 * pool. For a deploy, an Up host of the zone, of the requested hypervisor.
 */
import type { HostInfo, HypervisorType, VmInfo, VolumeInfo } from '../core/plugin-api.ts';
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

export interface DeployPlacement {
  readonly zoneId: string;
  /** An admin's choice of host. */
  readonly hostId?: string;
  /**
   * CloudStack's `hypervisor` of deployVirtualMachine. vmsnap has no templates to take it from, so
   * without it any Up host of the zone will do, the oldest first: in a zone that mixes simulator and
   * KVM hosts, `hypervisor=KVM` is what puts a VM on real QEMU.
   */
  readonly hypervisor?: HypervisorType;
}

/** The host a new VM goes to, from the hosts in store order (oldest first). */
export function pickDeployHost<H extends HostInfo>(hosts: readonly H[], want: DeployPlacement): H {
  const up = hosts.filter((h) => h.zoneId === want.zoneId && h.status === 'Up');
  const host =
    want.hostId === undefined ? up.find((h) => fits(h, want)) : up.find((h) => h.id === want.hostId);
  if (host === undefined) {
    const kind = want.hypervisor === undefined ? '' : ` ${want.hypervisor}`;
    throw new InvalidParameterError(`No Up${kind} host found in zone ${want.zoneId}`);
  }
  if (!fits(host, want)) {
    throw new InvalidParameterError(
      `Host ${host.name} is a ${host.hypervisor} host, not ${want.hypervisor ?? 'any'}`,
    );
  }
  return host;
}

function fits(host: HostInfo, want: DeployPlacement): boolean {
  return want.hypervisor === undefined || host.hypervisor === want.hypervisor;
}
