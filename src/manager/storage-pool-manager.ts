/**
 * Primary storage pools declared through the API (createStoragePool, updateStoragePool,
 * deleteStoragePool, listStoragePools, listStorageProviders). A pool lives on a storage driver that
 * declares a {@link StorageProvider}; the provider checks the pool before anything is written, so a
 * pool that cannot be reached, does not exist or refuses the credentials is never created.
 *
 * A pool's URL and details may hold a key: the store seals them at rest, error messages from
 * providers are scrubbed of them, and responses show the URL masked ({@link maskPoolUrl}).
 */
import { randomUUID } from 'node:crypto';
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import { messageOf } from '../core/message-of.ts';
import type { PoolScope, PoolSpec, StorageDriver, StorageProvider } from '../core/plugin-api.ts';
import { scrubSecrets } from '../core/pool-url-mask.ts';
import {
  allocatedBytesByPool,
  insertStoragePool,
  poolInfoOf,
  recordPoolStats,
  removeStoragePool,
  updateStoragePool,
  type PoolChanges,
  type StoredPool,
} from '../store/storage-pool-store.ts';
import { zoneExists } from '../store/zone-store.ts';
import type { ManagerDeps } from './manager-deps.ts';

/** A provider that does not answer in this time has not validated the pool. */
const VALIDATE_TIMEOUT_MS = 120_000;
/** listStoragePools waits this long for live stats, then shows the last ones known. */
const STATS_TIMEOUT_MS = 10_000;

export interface StorageProviderView {
  readonly name: string;
  readonly description: string;
  readonly urlSchemes: readonly string[];
}

export interface CreatePoolRequest {
  readonly zoneId: string;
  readonly name: string;
  readonly url: string;
  readonly provider: string;
  readonly scope: PoolScope;
  readonly hostId: string | null;
  readonly tags: readonly string[];
  readonly details: Readonly<Record<string, string>>;
  /** The operator's capacity, over the provider's measure (CloudStack's capacitybytes). */
  readonly capacityBytes?: number;
}

/** A pool with its allocated bytes (the sizes of its live volumes). */
export interface PoolView extends StoredPool {
  readonly allocatedBytes: number;
}

export class StoragePoolManager {
  constructor(private readonly deps: ManagerDeps) {}

  /** Every registered driver that provides primary storage, in registration order. */
  providers(): StorageProviderView[] {
    return [...this.deps.registry.storageDrivers.values()].flatMap((d) =>
      d.provider === undefined
        ? []
        : [{ name: d.name, description: d.provider.description, urlSchemes: d.provider.urlSchemes }],
    );
  }

  async create(req: CreatePoolRequest): Promise<StoredPool> {
    const provider = this.providerOf(req.provider);
    await this.checkPlacement(req);
    const spec: PoolSpec = {
      name: req.name,
      zoneId: req.zoneId,
      url: req.url,
      details: req.details,
      scope: req.scope,
      hostId: req.hostId,
    };
    checkScheme(req.provider, provider, req.url);
    const checked = await bounded(() => provider.validatePool(spec), VALIDATE_TIMEOUT_MS).catch(
      (err: unknown) => {
        throw new CloudRuntimeError(`Failed to add data store: ${scrubSecrets(messageOf(err), spec)}`);
      },
    );
    const id = randomUUID();
    await insertStoragePool(this.deps.db, {
      id,
      zoneId: req.zoneId,
      name: req.name,
      driver: req.provider,
      path: checked.path,
      hostId: req.hostId,
      capacityBytes: req.capacityBytes ?? checked.capacityBytes,
      url: req.url,
      details: req.details,
      scope: req.scope,
      tags: req.tags,
      created: Date.now(),
    });
    return this.mustGet(id);
  }

  async update(id: string, changes: PoolChanges): Promise<StoredPool> {
    const pool = await this.mustGet(id);
    if (changes.name !== undefined && changes.name !== pool.name)
      await this.checkNameFree(pool.zoneId, changes.name);
    await updateStoragePool(this.deps.db, id, changes);
    return this.mustGet(id);
  }

  /** Refused while a volume uses the pool, as CloudStack does; the pool's storage is left as it is. */
  async delete(id: string): Promise<void> {
    const pool = await this.mustGet(id);
    const inUse = await removeStoragePool(this.deps.db, id, Date.now());
    if (inUse > 0)
      throw new CloudRuntimeError(
        `Cannot delete pool ${pool.name} as there are associated non-destroyed vols for this pool`,
      );
  }

  /** Live pools with fresh stats from their providers (the last known ones when a provider fails). */
  async list(): Promise<PoolView[]> {
    const pools = await this.deps.inventory.listPools();
    const allocated = await allocatedBytesByPool(this.deps.db);
    const fresh = await Promise.all(pools.map((p) => this.refreshed(p)));
    return fresh.map((p) => ({ ...p, allocatedBytes: allocated.get(p.id) ?? 0 }));
  }

  /** One live pool with fresh stats. */
  async view(id: string): Promise<PoolView> {
    const pool = await this.refreshed(await this.mustGet(id));
    return { ...pool, allocatedBytes: (await allocatedBytesByPool(this.deps.db)).get(id) ?? 0 };
  }

  /** The pool a new VM's volumes go on; `storageId` is the operator's choice (deploy storageid). */
  async poolForDeploy(
    host: { id: string; name: string; zoneId: string; url: string | null },
    storageId: string | undefined,
  ): Promise<StoredPool> {
    const pools = await this.deps.inventory.listPools();
    if (storageId === undefined) {
      const pool = pools.find((p) => p.state === 'Up' && p.url.startsWith('file:') && reaches(host, p));
      if (pool === undefined) throw new InvalidParameterError(`Host ${host.name} reaches no storage pool`);
      return pool;
    }
    const pool = pools.find((p) => p.id === storageId);
    if (pool === undefined) throw new InvalidParameterError(`Unable to find storage pool by id ${storageId}`);
    if (pool.zoneId !== host.zoneId)
      throw new InvalidParameterError(`Storage pool ${pool.name} is not in zone ${host.zoneId}`);
    if (pool.state !== 'Up')
      throw new InvalidParameterError(`Storage pool ${pool.name} is not Up (state ${pool.state})`);
    if (pool.hostId !== null && pool.hostId !== host.id)
      throw new InvalidParameterError(`Storage pool ${pool.name} is local to another host than ${host.name}`);
    return pool;
  }

  private async refreshed(pool: StoredPool): Promise<StoredPool> {
    const provider = this.deps.registry.storageDrivers.get(pool.driver)?.provider;
    if (provider === undefined) return pool;
    try {
      const stats = await bounded(() => provider.poolStats(poolInfoOf(pool)), STATS_TIMEOUT_MS);
      await recordPoolStats(this.deps.db, pool.id, stats.capacityBytes, stats.usedBytes);
      return { ...pool, capacityBytes: stats.capacityBytes, usedBytes: stats.usedBytes };
    } catch (err) {
      this.deps.log.debug(
        { pool: pool.name, err: scrubSecrets(messageOf(err), pool) },
        'pool stats unavailable',
      );
      return pool;
    }
  }

  private providerOf(name: string): StorageProvider {
    const driver: StorageDriver | undefined = this.deps.registry.storageDrivers.get(name);
    if (driver?.provider === undefined)
      throw new InvalidParameterError(`can't find storage provider: ${name}`);
    return driver.provider;
  }

  private async checkPlacement(req: CreatePoolRequest): Promise<void> {
    if (!(await zoneExists(this.deps.db, req.zoneId)))
      throw new InvalidParameterError(`Unable to find zone by id ${req.zoneId}`);
    if (req.scope === 'HOST') {
      if (req.hostId === null) throw new InvalidParameterError("host id can't be null, if scope is host");
      const host = await this.deps.inventory.getHost(req.hostId);
      if (host === undefined || host.zoneId !== req.zoneId)
        throw new InvalidParameterError(`Unable to find host by id ${req.hostId} in zone ${req.zoneId}`);
    } else if (req.hostId !== null) {
      throw new InvalidParameterError('hostid is only allowed with scope host');
    }
    await this.checkNameFree(req.zoneId, req.name);
  }

  private async checkNameFree(zoneId: string, name: string): Promise<void> {
    const pools = await this.deps.inventory.listPools();
    if (pools.some((p) => p.zoneId === zoneId && p.name === name))
      throw new InvalidParameterError(`A storage pool named ${name} already exists in this zone`);
  }

  private async mustGet(id: string): Promise<StoredPool> {
    const pool = await this.deps.inventory.getPool(id);
    if (pool === undefined || pool.removed)
      throw new InvalidParameterError(`Unable to find storage pool by id ${id}`);
    return pool;
  }
}

function reaches(host: { id: string; url: string | null }, p: StoredPool): boolean {
  // A zone-wide file pool is reachable by simulator hosts only: a QEMU host's folders are its own.
  return p.hostId === host.id || (p.hostId === null && host.url === null);
}

function checkScheme(name: string, provider: StorageProvider, url: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || !provider.urlSchemes.includes(scheme))
    throw new InvalidParameterError(
      `The url of a ${name} pool must start with ${provider.urlSchemes.map((s) => `${s}://`).join(' or ')}`,
    );
}

/**
 * A provider call, time-limited. A provider that throws instead of rejecting is caught too: its raw
 * error (which may carry the URL, as `new URL`'s does) must not reach the API's internal-error log.
 */
function bounded<T>(call: () => Promise<T>, ms: number): Promise<T> {
  const work = Promise.resolve().then(call);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the storage did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
