/** Zones, hosts, pools, VMs and volumes: the inventory the manager checks and strategies read. */
import type {
  HostInfo,
  HostStatus,
  HypervisorType,
  VmInfo,
  VmState,
  VolumeFormat,
  VolumeInfo,
  VolumeType,
} from '../core/plugin-api.ts';
import type { Kysely, Transaction } from 'kysely';
import type { Db } from './database.ts';
import type { Database } from './schema.ts';
import type { HostRow, VmRow } from './schema.ts';
import { poolInfoOf, toStoredPool, type StoredPool } from './storage-pool-store.ts';

export interface StoredVm extends VmInfo {
  readonly accountId: string;
  readonly updateCount: number;
  readonly created: number;
}

export interface StoredHost extends HostInfo {
  readonly url: string | null;
  /** Plain here; encrypted at rest by the store's connection (./secret-columns.ts). */
  readonly agentToken: string | null;
  readonly lastHeartbeat: number | null;
  /** The agent certificate's pinned SHA-256 fingerprint (https agents), else null. */
  readonly tlsFingerprint: string | null;
}

export type { StoredPool } from './storage-pool-store.ts';

/** A VM as it is first recorded (deploy, import, seed). */
export type NewVm = Omit<StoredVm, 'updateCount'>;

export interface NewVolume {
  readonly id: string;
  readonly name: string;
  readonly type: VolumeType;
  readonly poolId: string;
  readonly format: VolumeFormat;
  readonly path: string;
  readonly size: number;
  readonly deviceId: number;
  /** `Ready`, or `Allocated` until the host has created the disk. */
  readonly state: 'Ready' | 'Allocated';
}

/** Writes a VM and its volumes with the given connection (a transaction, for bulk callers). */
export async function insertVmRows(
  db: Kysely<Database> | Transaction<Database>,
  vm: NewVm,
  volumes: readonly NewVolume[],
): Promise<void> {
  await db
    .insertInto('vms')
    .values({
      id: vm.id,
      instance_name: vm.instanceName,
      display_name: vm.displayName,
      state: vm.state,
      host_id: vm.hostId,
      last_host_id: vm.lastHostId,
      account_id: vm.accountId,
      zone_id: vm.zoneId,
      hypervisor: vm.hypervisor,
      memory_mb: vm.memoryMb,
      cpus: vm.cpus,
      update_count: 0,
      created: vm.created,
      removed: null,
    })
    .execute();
  for (const v of volumes) {
    await db
      .insertInto('volumes')
      .values({
        id: v.id,
        vm_id: vm.id,
        name: v.name,
        type: v.type,
        pool_id: v.poolId,
        format: v.format,
        path: v.path,
        size: v.size,
        device_id: v.deviceId,
        state: v.state,
        created: vm.created,
        removed: null,
      })
      .execute();
  }
}

export class InventoryStore {
  constructor(private readonly db: Db) {}

  /** A new VM and its volumes, in one transaction. */
  async insertVm(vm: NewVm, volumes: readonly NewVolume[]): Promise<void> {
    await this.db.transaction().execute((trx) => insertVmRows(trx, vm, volumes));
  }

  async getVm(id: string): Promise<StoredVm | undefined> {
    const row = await this.db
      .selectFrom('vms')
      .selectAll()
      .where('id', '=', id)
      .where('removed', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : toVm(row);
  }

  async getVmByInstanceName(name: string): Promise<StoredVm | undefined> {
    const row = await this.db
      .selectFrom('vms')
      .selectAll()
      .where('instance_name', '=', name)
      .where('removed', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : toVm(row);
  }

  async listVms(): Promise<StoredVm[]> {
    const rows = await this.db
      .selectFrom('vms')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .execute();
    return rows.map(toVm);
  }

  /** Power-state change with optimistic concurrency on update_count. Returns false if raced. */
  async setVmState(vm: StoredVm, state: VmState, hostId: string | null): Promise<boolean> {
    const res = await this.db
      .updateTable('vms')
      .set({
        state,
        host_id: hostId,
        ...(vm.hostId !== null && vm.hostId !== hostId ? { last_host_id: vm.hostId } : {}),
        ...(hostId !== null ? { last_host_id: hostId } : {}),
        update_count: vm.updateCount + 1,
      })
      .where('id', '=', vm.id)
      .where('update_count', '=', vm.updateCount)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** The VM's non-removed volumes with the driver of each volume's pool, ROOT first. */
  async volumesOf(vmId: string): Promise<VolumeInfo[]> {
    return (await this.volumesWithState(vmId)).map((v) => v.volume);
  }

  /** Volumes and their states (Allocated, Ready ...) in one query, each with its pool. */
  async volumesWithState(vmId: string): Promise<{ volume: VolumeInfo; state: string }[]> {
    const rows = await this.db
      .selectFrom('volumes as v')
      .select([
        'v.id',
        'v.name',
        'v.type',
        'v.pool_id',
        'v.format',
        'v.path',
        'v.size',
        'v.device_id',
        'v.state',
      ])
      .where('v.vm_id', '=', vmId)
      .where('v.removed', 'is', null)
      .orderBy('v.device_id')
      .execute();
    // Pools are read apart (by id, removed ones too): a join would rename their sealed columns.
    const poolIds = [...new Set(rows.map((r) => r.pool_id))];
    const pools =
      poolIds.length === 0
        ? []
        : await this.db.selectFrom('storage_pools').selectAll().where('id', 'in', poolIds).execute();
    const infoById = new Map(pools.map((p) => [p.id, poolInfoOf(toStoredPool(p))]));
    return rows.map((r) => {
      const pool = infoById.get(r.pool_id);
      if (pool === undefined) throw new Error(`volume ${r.id} names pool ${r.pool_id}, which does not exist`);
      return {
        volume: {
          id: r.id,
          name: r.name,
          type: r.type as VolumeType,
          poolId: r.pool_id,
          driver: pool.provider,
          format: r.format as VolumeFormat,
          path: r.path,
          size: Number(r.size),
          deviceId: r.device_id,
          pool,
        },
        state: r.state,
      };
    });
  }

  async getHost(id: string): Promise<StoredHost | undefined> {
    const row = await this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toHost(row);
  }

  async listHosts(): Promise<StoredHost[]> {
    const rows = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .execute();
    return rows.map(toHost);
  }

  async setHostStatus(id: string, status: HostStatus, heartbeat?: number): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ status, ...(heartbeat !== undefined ? { last_heartbeat: heartbeat } : {}) })
      .where('id', '=', id)
      .execute();
  }

  async getPool(id: string): Promise<StoredPool | undefined> {
    const row = await this.db.selectFrom('storage_pools').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toStoredPool(row);
  }

  async listPools(): Promise<StoredPool[]> {
    const rows = await this.db
      .selectFrom('storage_pools')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .orderBy('name')
      .execute();
    return rows.map(toStoredPool);
  }
}

/** A VM row as the manager and the API see it. */
export function toVm(r: VmRow): StoredVm {
  return {
    id: r.id,
    instanceName: r.instance_name,
    displayName: r.display_name,
    state: r.state as VmState,
    hostId: r.host_id,
    lastHostId: r.last_host_id,
    zoneId: r.zone_id,
    hypervisor: r.hypervisor as HypervisorType,
    memoryMb: r.memory_mb,
    cpus: r.cpus,
    accountId: r.account_id,
    updateCount: r.update_count,
    created: Number(r.created),
  };
}

function toHost(r: HostRow): StoredHost {
  return {
    id: r.id,
    name: r.name,
    zoneId: r.zone_id,
    hypervisor: r.hypervisor as HypervisorType,
    status: r.status as HostStatus,
    url: r.url,
    agentToken: r.agent_token,
    lastHeartbeat: r.last_heartbeat === null ? null : Number(r.last_heartbeat),
    tlsFingerprint: r.tls_fingerprint ?? null,
  };
}
