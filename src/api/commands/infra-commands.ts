/** listZones, listHosts (admin), listStoragePools (admin). */
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';

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
  description: 'Lists storage pools (admin); storagedriver names the driver that serves each pool',
  admin: true,
  params: {
    id: param.uuid('The ID of the storage pool'),
    zoneid: param.uuid('The zone ID'),
    name: param.string('The name of the storage pool'),
    ...listParams,
  },
  async handler({ services, args, reader }) {
    const zones = new Map((await services.zones.list()).map((z) => [z.id, z.name]));
    const drivers = services.storageDrivers;
    const pools = (await services.inventory.listPools())
      .filter((p) => args.id === undefined || p.id === args.id)
      .filter((p) => args.zoneid === undefined || p.zoneId === args.zoneid)
      .filter((p) => args.name === undefined || p.name === args.name)
      .filter((p) => matchesKeyword(args.keyword, p.name));
    return pagedList(services, reader, 'storagepool', pools, (p) => {
      const driver = drivers.get(p.driver);
      return {
        id: p.id,
        name: p.name,
        path: p.path,
        state: 'Up',
        scope: p.hostId === null ? 'ZONE' : 'HOST',
        type: p.driver === 'hypervisor' ? 'Filesystem' : 'Custom',
        zoneid: p.zoneId,
        zonename: zones.get(p.zoneId),
        disksizetotal: p.capacityBytes,
        storagedriver: p.driver,
        ...(driver !== undefined ? { storagecapabilities: { ...driver.capabilities } } : {}),
      };
    });
  },
});
