/** deployVirtualMachine: creates a VM with empty disks on an Up KVM host of the zone. */
import { InvalidParameterError } from '../../core/errors.ts';
import type { HypervisorType } from '../../core/plugin-api.ts';
import { parseStrictInteger } from '../../core/strict-integer.ts';
import { defineCommand, param, required } from '../command.ts';
import { invalidValueError } from '../protocol/index.ts';

const COMMAND = 'deployVirtualMachine';
const HYPERVISORS: readonly HypervisorType[] = ['KVM', 'Simulator'];

export const deployVirtualMachine = defineCommand({
  name: COMMAND,
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
    disksizes: param.string(
      'vmsnap: comma-separated disk sizes in MiB, ROOT first (default 1024); plain decimal integers, 1 to 16 disks',
    ),
    hostid: param.uuid('Destination host (admin)'),
    storageid: param.uuid(
      "Destination storage pool (admin): all the Instance's volumes go on it; a host-local pool places the Instance on its host",
    ),
    hypervisor: param.enumOf(
      HYPERVISORS,
      'The hypervisor on which to deploy the Instance; any Up host of the zone when absent',
    ),
    startvm: param.boolean('True by default: start the Instance once created'),
    account: param.string('Owner account name (admin)'),
    serviceofferingid: param.uuid('Accepted for compatibility'),
    templateid: param.uuid('Accepted for compatibility'),
  },
  async handler({ services, caller, args }) {
    const sizes = diskSizes(args.disksizes ?? '1024');
    let owner: string | undefined;
    if (args.account !== undefined) {
      if (!caller.isAdmin) throw new InvalidParameterError('Only an admin can deploy for another account');
      const acc = await services.accounts.findAccountByName(args.account);
      if (acc === undefined)
        throw new InvalidParameterError(`Unable to find account ${args.account} in domain ROOT`);
      owner = acc.id;
    }
    if (args.hostid !== undefined && !caller.isAdmin)
      throw new InvalidParameterError('Only an admin can choose the host');
    if (args.storageid !== undefined && !caller.isAdmin)
      throw new InvalidParameterError('Only an admin can choose the storage pool');
    const name = args.displayname ?? args.name;
    const { vmId, jobId } = await services.vmManager.deploy(caller, {
      zoneId: args.zoneid,
      memoryMb: args.memory ?? 256,
      cpus: args.cpunumber ?? 1,
      diskSizesMb: sizes,
      start: args.startvm ?? true,
      ...(args.hostid !== undefined ? { hostId: args.hostid } : {}),
      ...(args.storageid !== undefined ? { storageId: args.storageid } : {}),
      ...(args.hypervisor !== undefined ? { hypervisor: args.hypervisor } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(owner !== undefined ? { ownerAccountId: owner } : {}),
    });
    return { id: vmId, jobid: jobId };
  },
});

/**
 * `disksizes`: each item a plain decimal integer of MiB (no `1e9`, `0x10`, spaces or signs), read
 * strictly here so the manager's bounds and the account's limits see the number the caller wrote.
 */
function diskSizes(text: string): number[] {
  return text.split(',').map((item) => {
    const n = parseStrictInteger(item, { min: 1, max: Number.MAX_SAFE_INTEGER });
    if (n === null) throw invalidValueError(COMMAND, 'disksizes', text);
    return n;
  });
}
