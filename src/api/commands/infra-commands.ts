/** listZones, listHosts (admin), listStoragePools (admin; the other pool commands: storage-pool-commands.ts). */
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';
import { renderStoragePool } from '../render/storage-pool-response.ts';

export const listZones = defineCommand({
  name: 'listZones',
  description: 'Lists zones',
  params: { id: param.uuid('The ID of the zone'), name: param.string('The name of the zone'), ...listParams },
  async handler({ services, args, reader }) {
    const zones = (await services.zones.list())
      .filter((z) => args.id === undefined || z.id === args.id)
      .filter((z) => args.name === undefined || z.name === args.name)
      .filter((z) => matchesKeyword(args.keyword, z.name));
    return pagedList(services, reader, 'zone', zones, (z) => ({
      id: z.id,
      name: z.name,
      networktype: 'Basic',
      allocationstate: 'Enabled',
      localstorageenabled: false,
      securitygroupsenabled: false,
    }));
  },
});

export const listHosts = defineCommand({
  name: 'listHosts',
  description: 'Lists hosts (admin)',
  admin: true,
  params: {
    id: param.uuid('The ID of the host'),
    zoneid: param.uuid('The zone ID'),
    name: param.string('The name of the host'),
    state: param.string('The state of the host (Up, Down, Disconnected)'),
    hypervisor: param.string('Hypervisor type'),
    ...listParams,
  },
  async handler({ services, args, reader }) {
    const zones = new Map((await services.zones.list()).map((z) => [z.id, z.name]));
    const hosts = (await services.inventory.listHosts())
      .filter((h) => args.id === undefined || h.id === args.id)
      .filter((h) => args.zoneid === undefined || h.zoneId === args.zoneid)
      .filter((h) => args.name === undefined || h.name === args.name)
      .filter((h) => args.state === undefined || h.status.toLowerCase() === args.state.toLowerCase())
      .filter(
        (h) => args.hypervisor === undefined || h.hypervisor.toLowerCase() === args.hypervisor.toLowerCase(),
      )
      .filter((h) => matchesKeyword(args.keyword, h.name));
    return pagedList(services, reader, 'host', hosts, (h) => ({
      id: h.id,
      name: h.name,
      state: h.status,
      type: 'Routing',
      hypervisor: h.hypervisor,
      zoneid: h.zoneId,
      zonename: zones.get(h.zoneId),
      resourcestate: 'Enabled',
      lastpinged: h.lastHeartbeat === null ? undefined : formatDate(h.lastHeartbeat),
      ...(h.url !== null ? { ipaddress: new URL(h.url).hostname } : {}),
      // vmsnap: the agent certificate pinned at addHost (https agents), as addHost returned it.
      ...(h.tlsFingerprint !== null ? { certfingerprint: h.tlsFingerprint } : {}),
    }));
  },
});

export const listStoragePools = defineCommand({
  name: 'listStoragePools',
  description:
    'Lists storage pools (admin) with their provider, capacity (disksizetotal), use (disksizeused, ' +
    'disksizeallocated) and state; the url is shown without its key',
  admin: true,
  params: {
    id: param.uuid('The ID of the storage pool'),
    zoneid: param.uuid('The zone ID'),
    name: param.string('The name of the storage pool'),
    scope: param.string('the scope of the storage pool (ZONE, HOST)'),
    status: param.string('the status of the storage pool (Up, Disabled, Maintenance)'),
    hostid: param.uuid('host ID of the storage pools'),
    ...listParams,
  },
  async handler({ services, args, reader }) {
    const zones = new Map((await services.zones.list()).map((z) => [z.id, z.name]));
    const drivers = services.storageDrivers;
    const pools = (await services.storagePools.list())
      .filter((p) => args.id === undefined || p.id === args.id)
      .filter((p) => args.zoneid === undefined || p.zoneId === args.zoneid)
      .filter((p) => args.name === undefined || p.name === args.name)
      .filter((p) => args.scope === undefined || p.scope === args.scope.toUpperCase())
      .filter((p) => args.status === undefined || p.state.toLowerCase() === args.status.toLowerCase())
      .filter((p) => args.hostid === undefined || p.hostId === args.hostid)
      .filter((p) => matchesKeyword(args.keyword, p.name));
    return pagedList(services, reader, 'storagepool', pools, (p) =>
      renderStoragePool(p, zones.get(p.zoneId), drivers.get(p.driver)),
    );
  },
});
