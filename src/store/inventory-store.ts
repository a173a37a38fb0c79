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
import type { HostRow, PoolRow, VmRow } from './schema.ts';

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

export interface StoredPool {
  readonly id: string;
  readonly zoneId: string;
  readonly name: string;
  readonly driver: string;
  readonly path: string;
  readonly hostId: string | null;
  readonly capacityBytes: number;
}

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

  /** Volumes and their states (Allocated, Ready ...) in one query. */
  async volumesWithState(vmId: string): Promise<{ volume: VolumeInfo; state: string }[]> {
    const rows = await this.db
      .selectFrom('volumes as v')
      .innerJoin('storage_pools as p', 'p.id', 'v.pool_id')
      .select([
        'v.id',
        'v.name',
        'v.type',
        'v.pool_id',
        'p.driver',
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
    return rows.map((r) => ({
      volume: {
        id: r.id,
        name: r.name,
        type: r.type as VolumeType,
        poolId: r.pool_id,
        driver: r.driver,
        format: r.format as VolumeFormat,
        path: r.path,
        size: Number(r.size),
        deviceId: r.device_id,
      },
      state: r.state,
    }));
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
    return row === undefined ? undefined : toPool(row);
  }

  async listPools(): Promise<StoredPool[]> {
    const rows = await this.db
      .selectFrom('storage_pools')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .execute();
    return rows.map(toPool);
  }
}

function toVm(r: VmRow): StoredVm {
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

function toPool(r: PoolRow): StoredPool {
  return {
    id: r.id,
    zoneId: r.zone_id,
    name: r.name,
    driver: r.driver,
    path: r.path,
    hostId: r.host_id,
    capacityBytes: Number(r.capacity_bytes),
  };
}
