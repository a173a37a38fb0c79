/**
 * VMSnapshotResponse (CloudStack's JSON names), plus vmsnap's extra fields that no peer reports:
 * the strategy that took the snapshot, the consistency level, the pause and freeze window, and how
 * long each phase took. Clients ignore fields they do not know.
 */
import { factsFromDetails } from '../../core/snapshot-facts.ts';
import type { StoredVm } from '../../store/inventory-store.ts';
import type { StoredVmSnapshot } from '../../store/vm-snapshot-store.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, type Lookups } from './lookups.ts';

/** What a response shows of the snapshot's VM and parent (a list reads only these columns). */
export type RenderedVm = Pick<StoredVm, 'displayName' | 'instanceName' | 'hypervisor' | 'zoneId'>;
export type RenderedParent = Pick<StoredVmSnapshot, 'id' | 'displayName'>;

/**
 * `virtualSize`: the bytes the snapshot's disks covered at the take (the sum of its volumes'
 * sizes), shown as `virtualsize` as CloudStack's SnapshotResponse names it; the memory state is
 * not counted. Left out when unknown (no volume records, e.g. still Creating).
 */
export function renderVmSnapshot(
  s: Omit<StoredVmSnapshot, 'volumes'>,
  vm: RenderedVm | undefined,
  parent: RenderedParent | undefined,
  lookups: Lookups,
  virtualSize?: number,
): Record<string, unknown> {
  const facts = factsFromDetails(s.details);
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
  if (virtualSize !== undefined) out['virtualsize'] = virtualSize;
  if (s.policyId !== null) out['vmsnapshotpolicyid'] = s.policyId;
  if (parent !== undefined) {
    out['parent'] = parent.id;
    out['parentName'] = parent.displayName;
  }
  if (facts.consistency !== undefined) out['consistency'] = facts.consistency;
  if (facts.pauseMs !== undefined) out['pausems'] = facts.pauseMs;
  if (facts.freezeWindowMs !== undefined) out['freezewindowms'] = facts.freezeWindowMs;
  if (facts.maxFreezeMs !== undefined) out['maxfreezems'] = facts.maxFreezeMs;
  if (facts.frozenTotalMs !== undefined) out['frozentotalms'] = facts.frozenTotalMs;
  if (facts.totalMs !== undefined) out['durationms'] = facts.totalMs;
  if (facts.memoryMode !== undefined) out['memorymode'] = facts.memoryMode;
  if (facts.phaseMs !== undefined) out['phasetimesms'] = facts.phaseMs;
  if (facts.driverMs !== undefined) out['drivertimesms'] = facts.driverMs;
  if (facts.error !== undefined) out['errortext'] = facts.error;
  return out;
}
