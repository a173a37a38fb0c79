/**
 * listManagementServers (admin): the management servers sharing the database, as CloudStack's
 * ManagementServerResponse (id, name, state, version, serviceip, lastserverstart, lastserverstop).
 * A server is Up while it beats within a job lease; one that died without stopping is shown Down
 * once the lease passed, the bound after which other servers take over its jobs.
 */
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';

export const listManagementServers = defineCommand({
  name: 'listManagementServers',
  description: 'Lists management servers (admin)',
  admin: true,
  since: '4.18.0',
  params: {
    id: param.uuid('The id of the management server'),
    name: param.string('The name of the management server'),
    ...listParams,
  },
  async handler({ services, args, reader }) {
    const servers = (await services.managementServers.list())
      .filter((s) => args.id === undefined || s.id === args.id)
      .filter((s) => args.name === undefined || s.name === args.name)
      .filter((s) => matchesKeyword(args.keyword, s.name));
    return pagedList(services, reader, 'managementserver', servers, (s) => ({
      id: s.id,
      name: s.name,
      state: s.state,
      version: s.version,
      serviceip: s.host,
      lastserverstart: formatDate(s.started),
      ...(s.stopped !== null ? { lastserverstop: formatDate(s.stopped) } : {}),
      osdistribution: process.platform,
      javadistribution: 'Node.js',
      javaversion: process.versions.node,
      // vmsnap: the API port and the last heartbeat, for operators behind a load balancer.
      port: s.port,
      lastheartbeat: formatDate(s.lastHeartbeat),
    }));
  },
});
