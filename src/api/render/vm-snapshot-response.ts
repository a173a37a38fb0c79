/**
 * VMSnapshotResponse (CloudStack's JSON names), plus vmsnap's extra fields that no peer reports:
 * the strategy that took the snapshot, the consistency level, the pause and freeze window, and how
 * long each phase took. Clients ignore fields they do not know.
 */
import type { StoredVm } from '../../store/inventory-store.ts';
import type { StoredVmSnapshot } from '../../store/vm-snapshot-store.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, type Lookups } from './lookups.ts';

export function renderVmSnapshot(
  s: StoredVmSnapshot,
  vm: StoredVm | undefined,
  parent: StoredVmSnapshot | undefined,
  lookups: Lookups,
): Record<string, unknown> {
  const details = s.details;
  const phases: Record<string, number> = {};
  for (const [k, v] of Object.entries(details)) {
    const m = /^phase\.(.+)\.ms$/.exec(k);
    if (m?.[1] !== undefined && typeof v === 'number') phases[m[1]] = v;
  }
  const drivers: Record<string, number> = {};
  for (const [k, v] of Object.entries(details)) {
    const m = /^driver\.(.+)\.ms$/.exec(k);
    if (m?.[1] !== undefined && typeof v === 'number') drivers[m[1]] = v;
  }
  const out: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    displayname: s.displayName,
    description: s.description,
    state: s.state,
    type: s.type,
    current: s.current,
    created: formatDate(s.createdAt),
    virtualmachineid: s.vmId,
    virtualmachinename: vm?.displayName ?? vm?.instanceName,
    hypervisor: vm?.hypervisor,
    zoneid: vm?.zoneId,
    zonename: vm === undefined ? undefined : lookups.zoneName(vm.zoneId),
    account: lookups.accountName(s.accountId),
    domainid: DOMAIN.id,
    domain: DOMAIN.name,
    domainpath: DOMAIN.path,
    tags: lookups.tagsOf('VMSnapshot', s.id),
    hasannotations: false,
    // vmsnap extensions
    strategy: s.strategy,
    quiescevm: s.quiesce,
  };
  if (parent !== undefined) {
    out['parent'] = parent.id;
    out['parentName'] = parent.displayName;
  }
  const str = (k: string): string | undefined => (typeof details[k] === 'string' ? details[k] : undefined);
  const num = (k: string): number | undefined => (typeof details[k] === 'number' ? details[k] : undefined);
  if (str('consistency') !== undefined) out['consistency'] = str('consistency');
  if (num('pauseMs') !== undefined) out['pausems'] = num('pauseMs');
  if (num('freezeWindowMs') !== undefined) out['freezewindowms'] = num('freezeWindowMs');
  if (num('totalMs') !== undefined) out['durationms'] = num('totalMs');
  if (str('memoryMode') !== undefined) out['memorymode'] = str('memoryMode');
  if (Object.keys(phases).length > 0) out['phasetimesms'] = phases;
  if (Object.keys(drivers).length > 0) out['drivertimesms'] = drivers;
  if (str('error') !== undefined) out['errortext'] = str('error');
  return out;
}
