/**
 * Hosts that run their own agent (KVM): `addHost` checks the agent and imports what it reports;
 * a heartbeat keeps each host's status, and every beat imports new VMs and pools and re-reads power
 * states, so VMs created or changed on the host show up without a restart.
 *
 * An agent is not trusted with anything beyond its own host: its report only updates VMs that host
 * owns, and a VM or pool that collides with another host's (same instance name, uuid, volume id, or
 * the path of a zone-wide pool) is not imported but raised as a HOST.ALERT event for the admins.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { AgentGateway, HypervisorType, InventoryPool, InventoryVm } from '../core/plugin-api.ts';
import { normalizeFingerprint } from '../core/cert-fingerprint.ts';
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import type { StoredHost, StoredVm } from '../store/inventory-store.ts';
import { FILE_DRIVER_NAME } from '../core/file-pool.ts';
import { recordPoolStats } from '../store/storage-pool-store.ts';
import { readCertificateFingerprint } from './agent-certificate.ts';
import type { ManagerDeps } from './manager-deps.ts';
import {
  deleteHost,
  insertHost,
  insertPool,
  takenVolumeId,
  vmWith,
  type VmPlacementRow,
} from '../store/host-store.ts';
import { takeHeartbeatLease } from '../store/host-lease-store.ts';
import { zoneExists } from '../store/zone-store.ts';

/** Event type of what a host reported and vmsnap refused (shown to admins by listEvents). */
export const HOST_ALERT = 'HOST.ALERT';

export interface AddHostRequest {
  readonly zoneId: string;
  readonly hypervisor: HypervisorType;
  readonly url: string;
  /** The agent's token (CloudStack's host password). */
  readonly token: string;
  /** Account that owns VMs imported from the host. */
  readonly ownerAccountId: string;
  readonly name?: string;
  /**
   * SHA-256 fingerprint of the agent's certificate (https URLs only), hex with or without colons.
   * Absent for an https URL: the certificate presented now is pinned (trust on first use).
   */
  readonly tlsFingerprint?: string;
}

/** An agent URL: http or https, no credentials (the token goes in `password`), no query. */
export function parseAgentUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidParameterError(`Invalid url ${text}: expected http(s)://<agent host>:<port>`);
  }
  // Anything else (file:, gopher:, ftp: ...) would make addHost a way to reach other services.
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidParameterError(`Invalid url: only http:// and https:// agent URLs are accepted`);
  if (url.username !== '' || url.password !== '')
    throw new InvalidParameterError(
      'Invalid url: no credentials in the URL; give the agent token as password',
    );
  if (url.search !== '' || url.hash !== '')
    throw new InvalidParameterError(`Invalid url ${url.origin}: no query or fragment in an agent URL`);
  return url;
}

/** The fingerprint to pin for the host, or null for an http agent; 431 when the input is unusable. */
function requestedPin(url: URL, given: string | undefined): string | undefined | null {
  if (given === undefined) return url.protocol === 'https:' ? undefined : null;
  if (url.protocol !== 'https:')
    throw new InvalidParameterError('certfingerprint applies to https:// agent URLs only');
  const pin = normalizeFingerprint(given);
  if (pin === undefined)
    throw new InvalidParameterError(
      'Invalid certfingerprint: expected the SHA-256 fingerprint of the agent certificate (64 hex digits, colons optional)',
    );
  return pin;
}

/** Which server beats, and how long its claim on a host lasts without a renewal. */
export interface HeartbeatLease {
  readonly owner: string;
  readonly leaseMs: number;
}

export class HostManager {
  /** The sync in flight per host: the next one waits for it. */
  private readonly syncing = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: ManagerDeps,
    /** Registers how to reach a new host before it is stored (remote agents only). */
    private readonly agents: AgentGateway,
  ) {}

  async addHost(req: AddHostRequest): Promise<StoredHost> {
    if (!(await zoneExists(this.deps.db, req.zoneId)))
      throw new InvalidParameterError(`Unable to find zone by id ${req.zoneId}`);
    if (req.hypervisor !== 'KVM')
      throw new InvalidParameterError(`Only KVM hosts can be added; got ${req.hypervisor}`);
    const url = parseAgentUrl(req.url);
    const dup = (await this.deps.inventory.listHosts()).find((h) => h.url === url.toString());
    if (dup !== undefined)
      throw new InvalidParameterError(`Host with url ${url.toString()} already exists: ${dup.name}`);
    const pin = await this.pinFor(url, req.tlsFingerprint);
    const id = randomUUID();
    const now = Date.now();
    // Stored Disconnected first, so the gateway can resolve it; Up only once the agent answered.
    await insertHost(this.deps.db, {
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
      tls_fingerprint: pin,
    });
    try {
      const ping = await this.agents.send(id, { kind: 'Ping' }, { timeoutMs: 10_000 });
      // Whatever answers is not trusted yet: its `details` are not repeated to the caller.
      if (!ping.result) throw new Error('it answered Ping with a failure');
      if (ping.hypervisor !== 'KVM') throw new Error(`the agent at ${url.toString()} is not a KVM agent`);
    } catch (err) {
      await deleteHost(this.deps.db, id);
      const why = err instanceof Error ? err.message : String(err);
      throw new CloudRuntimeError(`Cannot add host at ${url.toString()}: the agent did not answer (${why})`);
    }
    if (pin !== null)
      this.deps.log.info(
        { host: id, url: url.toString(), fingerprint: pin, firstUse: req.tlsFingerprint === undefined },
        'pinned the agent certificate',
      );
    await this.deps.inventory.setHostStatus(id, 'Up', Date.now());
    await this.sync(id, req.ownerAccountId);
    const host = await this.deps.inventory.getHost(id);
    if (host === undefined) throw new CloudRuntimeError(`host ${id} vanished`);
    return host;
  }

  /** The pin for a new host: given (checked), seen now (https, trust on first use) or null (http). */
  private async pinFor(url: URL, given: string | undefined): Promise<string | null> {
    const pin = requestedPin(url, given);
    if (pin !== undefined) return pin;
    try {
      return await readCertificateFingerprint(url, 10_000);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CloudRuntimeError(
        `Cannot add host at ${url.toString()}: no TLS handshake with the agent (${why})`,
      );
    }
  }

  /**
   * One heartbeat for every agent-backed host: status, then inventory. With `lease`, only the hosts
   * whose heartbeat lease this server holds or takes (one server per host: a host is not pinged and
   * imported by every server on every beat; a dead server's hosts pass to the next one that beats).
   */
  async heartbeatAll(ownerAccountId: string, lease?: HeartbeatLease): Promise<void> {
    const timeoutMs = this.deps.settings.getNumber('host.heartbeat.timeout') * 1000;
    for (const host of await this.deps.inventory.listHosts()) {
      if (host.url === null) continue;
      if (lease !== undefined && !(await this.holdsLease(host.id, lease))) continue;
      try {
        const ping = await this.agents.send(host.id, { kind: 'Ping' }, { timeoutMs: 5_000 });
        if (!ping.result) throw new Error(ping.details);
        await this.deps.inventory.setHostStatus(host.id, 'Up', Date.now());
        await this.sync(host.id, ownerAccountId);
      } catch (err) {
        const silentFor = Date.now() - (host.lastHeartbeat ?? 0);
        if (host.status === 'Up' && silentFor > timeoutMs) {
          await this.deps.inventory.setHostStatus(host.id, 'Down');
          this.deps.log.warn({ host: host.name, err }, 'host missed its heartbeats: Down');
        }
      }
    }
  }

  private async holdsLease(hostId: string, lease: HeartbeatLease): Promise<boolean> {
    const now = Date.now();
    return takeHeartbeatLease(this.deps.db, hostId, lease.owner, lease.leaseMs, now);
  }

  /**
   * Imports the host's pools and VMs that vmsnap does not know yet, and re-reads power states. One
   * sync per host at a time (addHost's and the heartbeat's may overlap): two would import the same
   * VM twice and raise the same alert twice.
   */
  async sync(hostId: string, ownerAccountId: string): Promise<void> {
    const previous = this.syncing.get(hostId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.syncNow(hostId, ownerAccountId));
    const tail = next.catch(() => undefined);
    this.syncing.set(hostId, tail);
    try {
      await next;
    } finally {
      if (this.syncing.get(hostId) === tail) this.syncing.delete(hostId);
    }
  }

  private async syncNow(hostId: string, ownerAccountId: string): Promise<void> {
    const host = await this.deps.inventory.getHost(hostId);
    if (host === undefined) return;
    const inv = await this.agents.send(hostId, { kind: 'GetInventory' }, { timeoutMs: 15_000 });
    if (!inv.result) {
      this.deps.log.warn({ host: host.name, err: inv.details }, 'GetInventory failed');
      throw new Error(`host ${host.name} could not list its inventory`);
    }
    for (const p of inv.pools) await this.importPool(host, p, ownerAccountId);
    const poolId = (await this.deps.inventory.listPools()).find(
      (p) => p.hostId === hostId && p.driver === FILE_DRIVER_NAME,
    )?.id;
    for (const vm of inv.vms) await this.reconcileVm(host, vm, poolId, ownerAccountId);
  }

  /** A pool the host reports: its own already, new (imported), or a zone-wide pool's path (refused). */
  private async importPool(host: StoredHost, p: InventoryPool, accountId: string): Promise<void> {
    // A storage driver's pool (RBD) is declared with createStoragePool, never imported as a folder.
    if (p.provider !== undefined) return;
    const pools = await this.deps.inventory.listPools();
    const own = pools.find((known) => known.hostId === host.id && known.path === p.path);
    // Only its host can measure a local folder: the figures listStoragePools shows come from here.
    if (own !== undefined) return recordPoolStats(this.deps.db, own.id, p.capacityBytes, p.usedBytes);
    // A zone-wide pool is every host's: claimed as one host's own, its volumes would follow that
    // host. Local pools of other hosts may share a path (each host has its own disk there).
    const shared = pools.find((k) => k.hostId === null && k.zoneId === host.zoneId && k.path === p.path);
    if (shared !== undefined) {
      await this.alert(
        host,
        accountId,
        `reported pool ${clip(p.name)} at ${clip(p.path)}, the path of zone-wide pool ${shared.name}: not imported`,
      );
      return;
    }
    // A host's own folder of disk files: a HOST-scoped pool of the built-in file driver.
    await insertPool(this.deps.db, {
      id: randomUUID(),
      zone_id: host.zoneId,
      name: `${host.name}:${p.name}`,
      driver: FILE_DRIVER_NAME,
      path: p.path,
      host_id: host.id,
      capacity_bytes: p.capacityBytes,
      used_bytes: p.usedBytes,
      pool_url: pathToFileURL(p.path).href,
      scope: 'HOST',
      created: Date.now(),
      removed: null,
    });
  }

  /**
   * A VM the host reports. Known and owned by this host: its power state is re-read. Known and
   * another host's, or new but colliding with any VM row or volume (removed ones too): refused and
   * alerted, nothing changes. Otherwise imported into the host's first pool.
   */
  private async reconcileVm(
    host: StoredHost,
    vm: InventoryVm,
    poolId: string | undefined,
    accountId: string,
  ): Promise<void> {
    const known = await this.deps.inventory.getVmByInstanceName(vm.name);
    if (known !== undefined && ownedBy(known, host.id)) {
      await this.readPowerState(host, known, vm);
      return;
    }
    const conflict = await this.collision(vm);
    if (conflict !== undefined) {
      await this.alert(
        host,
        accountId,
        `reported VM ${clip(vm.name)} (uuid ${vm.uuid === '' ? 'none' : clip(vm.uuid)}), ${conflict}: ignored`,
      );
      return;
    }
    if (poolId !== undefined) await this.importVm(host, vm, poolId, accountId);
  }

  /** Only stable states are corrected: a job in flight owns Starting/Stopping. */
  private async readPowerState(host: StoredHost, known: StoredVm, vm: InventoryVm): Promise<void> {
    const running = vm.powerState === 'PowerOn';
    if (known.state === 'Running' && !running) await this.deps.inventory.setVmState(known, 'Stopped', null);
    if (known.state === 'Stopped' && running) await this.deps.inventory.setVmState(known, 'Running', host.id);
  }

  /** Why a reported VM that this host does not own cannot be imported, if it cannot. */
  private async collision(vm: InventoryVm): Promise<string | undefined> {
    const db = this.deps.db;
    const byName = await vmWith(db, { instanceName: vm.name });
    if (byName !== undefined) return `whose name is taken by VM ${byName.id} ${await this.whereIs(byName)}`;
    if (vm.uuid !== '') {
      const byId = await vmWith(db, { id: vm.uuid });
      if (byId !== undefined) return `whose uuid is taken by VM ${byId.id} ${await this.whereIs(byId)}`;
    }
    const volumeId = await takenVolumeId(
      db,
      vm.volumes.map((v) => v.id),
    );
    return volumeId === undefined ? undefined : `whose volume id ${volumeId} is taken`;
  }

  private async whereIs(row: VmPlacementRow): Promise<string> {
    if (row.removed !== null) return '(a removed VM)';
    const hostId = row.host_id ?? row.last_host_id;
    const owner = hostId === null ? undefined : await this.deps.inventory.getHost(hostId);
    return `(on host ${owner?.name ?? 'none'})`;
  }

  /** An ERROR event on the host for admins; the same alert is recorded once, not every heartbeat. */
  private async alert(host: StoredHost, accountId: string, what: string): Promise<void> {
    const description = `Host ${host.name} ${what}`;
    const seen = await this.deps.events.exists({ type: HOST_ALERT, resourceId: host.id, description });
    this.deps.log.warn({ host: host.name, alert: description }, 'refused part of a host report');
    if (seen) return;
    await this.deps.events.record({
      accountId,
      userId: null,
      type: HOST_ALERT,
      level: 'ERROR',
      state: 'Completed',
      description,
      resourceType: 'Host',
      resourceId: host.id,
    });
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

/** The host that runs the VM, or, for a stopped VM, the host it last ran on. */
function ownedBy(vm: StoredVm, hostId: string): boolean {
  return vm.hostId === null ? vm.lastHostId === hostId : vm.hostId === hostId;
}

/** Names and paths from an agent, bounded before they go into an event. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
