/** UserVmResponse: the fields CloudStack clients read from listVirtualMachines and revert results. */
import type { StoredVm } from '../../store/inventory-store.ts';
import type { VolumeInfo } from '../../core/plugin-api.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, type Lookups } from './lookups.ts';

export function renderVm(vm: StoredVm, lookups: Lookups, isAdmin: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: vm.id,
    name: vm.displayName,
    displayname: vm.displayName,
    account: lookups.accountName(vm.accountId),
    domainid: DOMAIN.id,
    domain: DOMAIN.name,
    created: formatDate(vm.created),
    state: vm.state,
    zoneid: vm.zoneId,
    zonename: lookups.zoneName(vm.zoneId),
    hypervisor: vm.hypervisor,
    cpunumber: vm.cpus,
    memory: vm.memoryMb,
    guestosid: '',
    haenable: false,
    tags: lookups.tagsOf('UserVm', vm.id),
  };
  if (isAdmin) {
    out['instancename'] = vm.instanceName;
    if (vm.hostId !== null) {
      out['hostid'] = vm.hostId;
      out['hostname'] = lookups.hostName(vm.hostId);
    }
  }
  return out;
}

/** What a volume response shows of the volume (listVolumes reads only these columns). */
export type RenderedVolume = Pick<
  VolumeInfo,
  'id' | 'name' | 'type' | 'size' | 'deviceId' | 'format' | 'poolId' | 'path' | 'driver'
>;

export function renderVolume(
  v: RenderedVolume,
  vm: StoredVm | undefined,
  state: string,
  created: number,
  lookups: Lookups,
  isAdmin: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: v.id,
    name: v.name,
    type: v.type,
    size: v.size,
    state,
    created: formatDate(created),
    deviceid: v.deviceId,
    storagetype: 'shared',
    virtualmachineid: vm?.id,
    vmname: vm?.instanceName,
    vmdisplayname: vm?.displayName,
    vmstate: vm?.state,
    zoneid: vm?.zoneId,
    zonename: vm === undefined ? undefined : lookups.zoneName(vm.zoneId),
    account: vm === undefined ? undefined : lookups.accountName(vm.accountId),
    domainid: DOMAIN.id,
    domain: DOMAIN.name,
    format: v.format,
  };
  if (isAdmin) {
    out['storageid'] = v.poolId;
    out['storage'] = lookups.poolName(v.poolId);
    out['path'] = v.path;
    out['storagedriver'] = v.driver;
  }
  return out;
}
