/**
 * Primary storage pools declared through the API, in CloudStack's shapes (admin):
 * listStorageProviders, createStoragePool, updateStoragePool, deleteStoragePool. listStoragePools is
 * in infra-commands.ts. A pool lives on a storage driver that declares a provider (`file`, and every
 * plugin driver with one); the provider checks the pool before anything is created.
 */
import { InvalidParameterError } from '../../core/errors.ts';
import type { PoolScope } from '../../core/plugin-api.ts';
import { defineCommand, listParams, param, required, type ParamSpec } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';
import { invalidValueError, type ParamReader } from '../protocol/index.ts';
import { renderStoragePool } from '../render/storage-pool-response.ts';
import type { ApiServices } from '../api-services.ts';

const SCOPES = ['zone', 'host', 'cluster'] as const;
const HYPERVISORS = ['KVM', 'Simulator', 'Any'] as const;
/** Without `provider`, a pool is a folder of disk files (CloudStack's DefaultPrimary). */
const DEFAULT_PROVIDER = 'file';

export const listStorageProviders = defineCommand({
  name: 'listStorageProviders',
  description:
    'Lists storage providers: the built-in drivers and every plugin driver that provides primary storage',
  admin: true,
  params: {
    type: required(param.string('the type of storage provider: either primary or image')),
    ...listParams,
  },
  async handler({ services, args, reader }) {
    const type = args.type.toLowerCase();
    if (type !== 'primary' && type !== 'image')
      throw invalidValueError('listStorageProviders', 'type', args.type);
    const providers = type === 'image' ? [] : services.storagePools.providers();
    const shown = providers.filter((p) => matchesKeyword(args.keyword, p.name));
    // CloudStack names each entry `dataStoreProvider`.
    return pagedList(services, reader, 'dataStoreProvider', shown, (p) => ({
      name: p.name,
      type: 'PRIMARY',
      // vmsnap: what the provider is and the URLs it takes.
      description: p.description,
      urlschemes: p.urlSchemes.join(','),
    }));
  },
});

export const createStoragePool = defineCommand({
  name: 'createStoragePool',
  description:
    'Creates a primary storage pool on a storage provider (listStorageProviders type=primary); the provider ' +
    'reaches the storage and checks the pool and its credentials first, and nothing is created if that fails',
  admin: true,
  params: {
    zoneid: required(param.uuid('the Zone ID for the storage pool')),
    name: required(param.string('the name for the storage pool')),
    url: required(
      param.string(
        'the URL of the storage pool, e.g. file:///var/lib/vmsnap/pool or rbd://user:key@mon:6789/pool',
        2048,
      ),
    ),
    provider: param.string(`the storage provider name (default ${DEFAULT_PROVIDER})`),
    scope: param.enumOf(SCOPES, 'the scope of the storage: zone (default) or host; vmsnap has no clusters'),
    hostid: param.uuid('the host of a host-scoped pool'),
    hypervisor: param.enumOf(
      HYPERVISORS,
      'hypervisor type of the hosts in zone that will be attached to this storage pool',
    ),
    tags: param.string('the tags for the storage pool, comma-separated'),
    details: detailsParam(
      'the details for the storage pool (details[0].name=value); may hold credentials, never shown',
    ),
    capacitybytes: param.long(
      'bytes CloudStack can provision from this storage pool (default: what the provider measures)',
    ),
    podid: param.uuid('Accepted for compatibility'),
    clusterid: param.uuid('Accepted for compatibility'),
  },
  async handler({ services, args }) {
    const scope = scopeOf(args.scope, args.clusterid);
    const pool = await services.storagePools.create({
      zoneId: args.zoneid,
      name: args.name,
      url: args.url,
      provider: args.provider ?? DEFAULT_PROVIDER,
      scope,
      hostId: args.hostid ?? null,
      tags: tagList(args.tags),
      details: args.details,
      ...(args.capacitybytes !== undefined ? { capacityBytes: nonNegative(args.capacitybytes) } : {}),
    });
    return { storagepool: await renderOne(services, pool.id) };
  },
});

export const updateStoragePool = defineCommand({
  name: 'updateStoragePool',
  description: 'Updates a storage pool: name, tags, capacity, enabled (Up) or disabled',
  admin: true,
  params: {
    id: required(param.uuid('the Id of the storage pool')),
    name: param.string('Change the name of the storage pool'),
    tags: param.string('comma-separated list of tags for the storage pool'),
    capacitybytes: param.long('bytes CloudStack can provision from this storage pool'),
    enabled: param.boolean('false to disable the pool for use by new volumes, true to enable it'),
  },
  async handler({ services, args }) {
    await services.storagePools.update(args.id, {
      ...(args.name !== undefined ? { name: args.name } : {}),
      ...(args.tags !== undefined ? { tags: tagList(args.tags) } : {}),
      ...(args.capacitybytes !== undefined ? { capacityBytes: nonNegative(args.capacitybytes) } : {}),
      ...(args.enabled !== undefined ? { state: args.enabled ? 'Up' : 'Disabled' } : {}),
    });
    return { storagepool: await renderOne(services, args.id) };
  },
});

export const deleteStoragePool = defineCommand({
  name: 'deleteStoragePool',
  description: 'Deletes a storage pool; refused while volumes use it. The storage itself is left as it is',
  admin: true,
  params: {
    id: required(param.uuid('Storage pool id')),
    forced: param.boolean('Accepted for compatibility: a pool with volumes is never deleted'),
  },
  async handler({ services, args }) {
    await services.storagePools.delete(args.id);
    return { success: true };
  },
});

function scopeOf(scope: (typeof SCOPES)[number] | undefined, clusterId: string | undefined): PoolScope {
  if (scope === 'cluster' || (scope === undefined && clusterId !== undefined))
    throw new InvalidParameterError('vmsnap has no clusters: the scope of a storage pool is zone or host');
  return scope === 'host' ? 'HOST' : 'ZONE';
}

function tagList(tags: string | undefined): string[] {
  return (tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** CloudStack's getDetails: every `details[i].name=value` entry, merged into one map. */
function detailsParam(description: string): ParamSpec<Record<string, string>> {
  return {
    type: 'map',
    description,
    required: false,
    read: (r: ParamReader, n: string) => {
      const details: Record<string, string> = {};
      for (const entry of r.map(n)) Object.assign(details, entry);
      return details;
    },
  };
}

function nonNegative(n: number): number {
  if (n < 0) throw new InvalidParameterError('capacitybytes must not be negative');
  return n;
}

async function renderOne(services: ApiServices, id: string): Promise<Record<string, unknown>> {
  const pool = await services.storagePools.view(id);
  const zone = (await services.zones.list()).find((z) => z.id === pool.zoneId);
  return renderStoragePool(pool, zone?.name, services.storageDrivers.get(pool.driver));
}
