/**
 * CloudStack's StoragePoolResponse (`storagepool`), from a pool and its live stats. The pool's URL
 * is shown with its key masked and its details not at all: both may hold a storage key.
 */
import { maskPoolUrl } from '../../core/pool-url-mask.ts';
import type { StorageDriver } from '../../core/plugin-api.ts';
import type { PoolView } from '../../manager/storage-pool-manager.ts';
import { formatDate } from '../protocol/index.ts';

/** CloudStack's StoragePoolType for a URL scheme; `Custom` for a plugin's own. */
const POOL_TYPES: Readonly<Record<string, string>> = { file: 'Filesystem', rbd: 'RBD' };

export function renderStoragePool(
  p: PoolView,
  zoneName: string | undefined,
  driver: StorageDriver | undefined,
): Record<string, unknown> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(p.url)?.[1]?.toLowerCase() ?? '';
  return {
    id: p.id,
    name: p.name,
    zoneid: p.zoneId,
    zonename: zoneName,
    ipaddress: hostPartOf(p.url),
    path: p.path,
    created: formatDate(p.created),
    type: POOL_TYPES[scheme] ?? 'Custom',
    provider: p.driver,
    state: p.state,
    scope: p.scope,
    ...(p.hostId !== null ? { hostid: p.hostId } : {}),
    tags: p.tags.join(','),
    disksizetotal: p.capacityBytes,
    disksizeused: p.usedBytes,
    disksizeallocated: p.allocatedBytes,
    // vmsnap: the pool's URL without its key, and the driver that serves it with its capabilities.
    url: maskPoolUrl(p.url),
    storagedriver: p.driver,
    ...(driver !== undefined ? { storagecapabilities: { ...driver.capabilities } } : {}),
  };
}

/** The monitors or server of a URL (`mon1:6789,mon2`), without user or key; '' for file URLs. */
function hostPartOf(url: string): string {
  // Masked first: the user part ends at its first `@`, even when the key holds a `/`.
  const masked = maskPoolUrl(url);
  const afterScheme = masked.indexOf('://');
  if (afterScheme < 0) return '';
  const rest = masked.slice(afterScheme + 3);
  const at = rest.indexOf('@');
  return (at < 0 || at > rest.search(/\/|$/) ? rest : rest.slice(at + 1)).split('/')[0] ?? '';
}
