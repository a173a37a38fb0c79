/**
 * Hosts that run their own agent (KVM): `addHost` checks the agent and imports what it reports;
 * a heartbeat keeps each host's status, and every beat imports new VMs and pools and re-reads power
 * states, so VMs created or changed on the host show up without a restart.
 */
import { randomUUID } from 'node:crypto';
import type { AgentGateway, HypervisorType, InventoryVm } from '../core/plugin-api.ts';
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import type { StoredHost } from '../store/inventory-store.ts';
import type { ManagerDeps } from './manager-deps.ts';

export interface AddHostRequest {
  readonly zoneId: string;
  readonly hypervisor: HypervisorType;
  readonly url: string;
  /** The agent's token (CloudStack's host password). */
  readonly token: string;
  /** Account that owns VMs imported from the host. */
  readonly ownerAccountId: string;
  readonly name?: string;
}

export class HostManager {
  constructor(
    private readonly deps: ManagerDeps,
    /** Registers how to reach a new host before it is stored (remote agents only). */
    private readonly agents: AgentGateway,
  ) {}

  async addHost(req: AddHostRequest): Promise<StoredHost> {
    const zone = await this.deps.db
      .selectFrom('zones')
      .select('id')
      .where('id', '=', req.zoneId)
      .executeTakeFirst();
    if (zone === undefined) throw new InvalidParameterError(`Unable to find zone by id ${req.zoneId}`);
    if (req.hypervisor !== 'KVM')
      throw new InvalidParameterError(`Only KVM hosts can be added; got ${req.hypervisor}`);
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new InvalidParameterError(`Invalid url ${req.url}: expected http://<agent host>:<port>`);
    }
    const dup = (await this.deps.inventory.listHosts()).find((h) => h.url === url.toString());
    if (dup !== undefined)
      throw new InvalidParameterError(`Host with url ${req.url} already exists: ${dup.name}`);
    const id = randomUUID();
    const now = Date.now();
    // Stored Disconnected first, so the gateway can resolve it; Up only once the agent answered.
    await this.deps.db
      .insertInto('hosts')
      .values({
        id,
        zone_id: req.zoneId,
        name: req.name ?? url.hostname,
        hypervisor: req.hypervisor,
        status: 'Disconnected',
        url: url.toString(),
        agent_token: req.token,
        last_heartbeat: null,
        created: now,
        removed: null,
      })
      .execute();
    try {
      const ping = await this.agents.send(id, { kind: 'Ping' }, { timeoutMs: 10_000 });
      if (!ping.result) throw new Error(ping.details);
      if (ping.hypervisor !== 'KVM') throw new Error(`the agent at ${req.url} is not a KVM agent`);
    } catch (err) {
      await this.deps.db.deleteFrom('hosts').where('id', '=', id).execute();
      const why = err instanceof Error ? err.message : String(err);
      throw new CloudRuntimeError(`Cannot add host at ${req.url}: the agent did not answer (${why})`);
    }
    await this.deps.inventory.setHostStatus(id, 'Up', Date.now());
    await this.sync(id, req.ownerAccountId);
    const host = await this.deps.inventory.getHost(id);
    if (host === undefined) throw new CloudRuntimeError(`host ${id} vanished`);
    return host;
  }

  /** One heartbeat for every agent-backed host: status, then inventory. */
  async heartbeatAll(ownerAccountId: string): Promise<void> {
    const timeoutMs = this.deps.settings.getNumber('host.heartbeat.timeout') * 1000;
    for (const host of await this.deps.inventory.listHosts()) {
      if (host.url === null) continue;
      try {
        const ping = await this.agents.send(host.id, { kind: 'Ping' }, { timeoutMs: 5_000 });
        if (!ping.result) throw new Error(ping.details);
        await this.deps.inventory.setHostStatus(host.id, 'Up', Date.now());
        await this.sync(host.id, ownerAccountId);
      } catch (err) {
        const silentFor = Date.now() - (host.lastHeartbeat ?? 0);
        if (host.status === 'Up' && silentFor > timeoutMs) {
          await this.deps.inventory.setHostStatus(host.id, 'Down');
          this.deps.log.warn({ host: host.name, err: String(err) }, 'host missed its heartbeats: Down');
        }
      }
    }
  }

  /** Imports the host's pools and VMs that vmsnap does not know yet, and re-reads power states. */
  async sync(hostId: string, ownerAccountId: string): Promise<void> {
    const host = await this.deps.inventory.getHost(hostId);
    if (host === undefined) return;
    const inv = await this.agents.send(hostId, { kind: 'GetInventory' }, { timeoutMs: 15_000 });
    if (!inv.result) throw new Error(inv.details);
    const pools = (await this.deps.inventory.listPools()).filter((p) => p.hostId === hostId);
    for (const p of inv.pools) {
      if (pools.some((known) => known.path === p.path)) continue;
      await this.deps.db
        .insertInto('storage_pools')
        .values({
          id: randomUUID(),
          zone_id: host.zoneId,
          name: `${host.name}:${p.name}`,
          driver: 'hypervisor',
          path: p.path,
          host_id: hostId,
          capacity_bytes: p.capacityBytes,
          created: Date.now(),
          removed: null,
        })
        .execute();
    }
    const poolId = (await this.deps.inventory.listPools()).find((p) => p.hostId === hostId)?.id;
    for (const vm of inv.vms) {
      const known = await this.deps.inventory.getVmByInstanceName(vm.name);
      if (known === undefined) {
        if (poolId !== undefined) await this.importVm(host, vm, poolId, ownerAccountId);
        continue;
      }
      const running = vm.powerState === 'PowerOn';
      // Only stable states are corrected: a job in flight owns Starting/Stopping.
      if (known.state === 'Running' && !running) await this.deps.inventory.setVmState(known, 'Stopped', null);
      if (known.state === 'Stopped' && running)
        await this.deps.inventory.setVmState(known, 'Running', hostId);
    }
  }

  private async importVm(
    host: StoredHost,
    vm: InventoryVm,
    poolId: string,
    accountId: string,
  ): Promise<void> {
    const id = vm.uuid !== '' ? vm.uuid : randomUUID();
    await this.deps.inventory.insertVm(
      {
        id,
        instanceName: vm.name,
        displayName: vm.name,
        state: vm.powerState === 'PowerOn' ? 'Running' : 'Stopped',
        hostId: vm.powerState === 'PowerOn' ? host.id : null,
        lastHostId: host.id,
        accountId,
        zoneId: host.zoneId,
        hypervisor: host.hypervisor,
        memoryMb: vm.memoryMb,
        cpus: vm.cpus,
        created: Date.now(),
      },
      vm.volumes.map((v) => ({
        ...v,
        poolId,
        name: `${vm.name}-${v.type === 'ROOT' ? 'root' : `data${v.deviceId}`}`,
        state: 'Ready' as const,
      })),
    );
    this.deps.log.info({ host: host.name, vm: vm.name }, 'imported a VM reported by the host agent');
  }
}
