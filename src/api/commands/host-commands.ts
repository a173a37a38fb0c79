/** addHost (admin) and deployVirtualMachine: bring real KVM hosts and VMs under vmsnap. */
import { InvalidParameterError } from '../../core/errors.ts';
import { AccountStore } from '../../store/account-store.ts';
import { defineCommand, param, required } from '../command.ts';
import { loadLookups } from '../render/lookups.ts';

export const addHost = defineCommand({
  name: 'addHost',
  description:
    'Adds a KVM host running `vmsnap agent` (admin). url = the agent URL (http://host:8250), password = the agent token; its VMs and pools are imported.',
  admin: true,
  params: {
    zoneid: required(param.uuid('The Zone ID for the host')),
    hypervisor: required(param.string('Hypervisor type of the host: KVM')),
    url: required(param.string('The host agent URL, e.g. http://10.0.0.5:8250')),
    username: param.string('The username for the host (accepted for compatibility)'),
    password: required(param.string('The agent token (vmsnap agent --token)')),
    podid: param.uuid('Accepted for compatibility; vmsnap has no pods'),
    clusterid: param.uuid('Accepted for compatibility; vmsnap has no clusters'),
    hostname: param.string('vmsnap: a display name for the host (default: the URL host name)'),
  },
  async handler({ app, caller, args }) {
    const hypervisor = args.hypervisor.toUpperCase() === 'KVM' ? 'KVM' : undefined;
    if (hypervisor === undefined)
      throw new InvalidParameterError(`Only KVM hosts can be added; got ${args.hypervisor}`);
    const host = await app.hostManager.addHost({
      zoneId: args.zoneid,
      hypervisor,
      url: args.url,
      token: args.password,
      ownerAccountId: caller.accountId,
      ...(args.hostname !== undefined ? { name: args.hostname } : {}),
    });
    const lookups = await loadLookups(app);
    return {
      count: 1,
      host: [
        {
          id: host.id,
          name: host.name,
          state: host.status,
          type: 'Routing',
          hypervisor: host.hypervisor,
          zoneid: host.zoneId,
          zonename: lookups.zoneName(host.zoneId),
          resourcestate: 'Enabled',
        },
      ],
    };
  },
});

export const deployVirtualMachine = defineCommand({
  name: 'deployVirtualMachine',
  description:
    'Creates an Instance with empty qcow2 disks (no OS needed) on an Up host of the zone, and starts it (async). ' +
    'serviceofferingid and templateid are accepted and ignored: size it with memory, cpunumber and disksizes.',
  async: true,
  params: {
    zoneid: required(param.uuid('Availability zone for the Instance')),
    name: param.string('Host name / display name for the Instance'),
    displayname: param.string('An optional user generated name for the Instance'),
    memory: param.integer('vmsnap: memory in MiB (default 256)'),
    cpunumber: param.integer('vmsnap: number of vCPUs (default 1)'),
    disksizes: param.string('vmsnap: comma-separated disk sizes in MiB, ROOT first (default 1024)'),
    hostid: param.uuid('Destination host (admin)'),
    startvm: param.boolean('True by default: start the Instance once created'),
    account: param.string('Owner account name (admin)'),
    serviceofferingid: param.uuid('Accepted for compatibility'),
    templateid: param.uuid('Accepted for compatibility'),
  },
  async handler({ app, caller, args }) {
    const sizes = (args.disksizes ?? '1024').split(',').map((s) => Number(s.trim()));
    if (sizes.some((n) => !Number.isInteger(n)))
      throw new InvalidParameterError(`Invalid disksizes ${args.disksizes}`);
    let owner: string | undefined;
    if (args.account !== undefined) {
      if (!caller.isAdmin) throw new InvalidParameterError('Only an admin can deploy for another account');
      const acc = await new AccountStore(app.deps.db).findAccountByName(args.account);
      if (acc === undefined)
        throw new InvalidParameterError(`Unable to find account ${args.account} in domain ROOT`);
      owner = acc.id;
    }
    if (args.hostid !== undefined && !caller.isAdmin)
      throw new InvalidParameterError('Only an admin can choose the host');
    const name = args.displayname ?? args.name;
    const { vmId, jobId } = await app.vmManager.deploy(caller, {
      zoneId: args.zoneid,
      memoryMb: args.memory ?? 256,
      cpus: args.cpunumber ?? 1,
      diskSizesMb: sizes,
      start: args.startvm ?? true,
      ...(args.hostid !== undefined ? { hostId: args.hostid } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(owner !== undefined ? { ownerAccountId: owner } : {}),
    });
    return { id: vmId, jobid: jobId };
  },
});
