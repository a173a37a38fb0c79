/** listVirtualMachines, startVirtualMachine, stopVirtualMachine, listVolumes. */
import { defineCommand, listParams, param, required } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { loadLookups } from '../render/lookups.ts';
import { renderVm, renderVolume } from '../render/vm-response.ts';

export const listVirtualMachines = defineCommand({
  name: 'listVirtualMachines',
  description: 'List the Instances the caller may see',
  params: {
    id: param.uuid('The ID of the Instance'),
    ids: param.uuids('The IDs of the Instances'),
    name: param.string('Name of the Instance'),
    state: param.string('State of the Instance'),
    zoneid: param.uuid('The availability zone ID'),
    hostid: param.uuid('The host ID (admin)'),
    tags: param.map('List resources by tags (key/value pairs)'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const ids = args.ids ?? (args.id !== undefined ? [args.id] : undefined);
    const scope = await listScope(services, caller, args, ids !== undefined);
    // Admin only, as in CloudStack (which ignores it from users): a user filtering its own VMs by
    // host would learn which host ids exist, and which of them run its VMs.
    const hostId = caller.isAdmin ? args.hostid : undefined;
    // Filtered, ordered (oldest first) and paged in SQL: a page costs an index range read however
    // many VMs the store holds (issue 15, item 2); the tags read are the page's only.
    const page = await services.vms.listPage(
      {
        accountId: scope.accountId,
        ids,
        displayName: args.name,
        state: args.state,
        zoneId: args.zoneid,
        hostId,
        keyword: args.keyword,
        tags: args.tags,
      },
      listPaging(services, reader),
    );
    const lookups = await loadLookups(
      services,
      { type: 'UserVm', ids: page.rows.map((v) => v.id) },
      {
        account: page.rows.map((v) => v.accountId),
        zone: page.rows.map((v) => v.zoneId),
        host: page.rows.map((v) => v.hostId),
      },
    );
    return pagedPayload('virtualmachine', page, (v) => renderVm(v, lookups, caller.isAdmin));
  },
});

export const startVirtualMachine = defineCommand({
  name: 'startVirtualMachine',
  description: 'Starts an Instance (async)',
  async: true,
  params: { id: required(param.uuid('The ID of the Instance')) },
  async handler({ services, caller, args }) {
    return { jobid: (await services.vmManager.start(caller, args.id)).jobId };
  },
});

export const stopVirtualMachine = defineCommand({
  name: 'stopVirtualMachine',
  description: 'Stops an Instance (async)',
  async: true,
  params: {
    id: required(param.uuid('The ID of the Instance')),
    forced: param.boolean('Force stop the Instance'),
  },
  async handler({ services, caller, args }) {
    return { jobid: (await services.vmManager.stop(caller, args.id, args.forced ?? false)).jobId };
  },
});

export const listVolumes = defineCommand({
  name: 'listVolumes',
  description: 'Lists the volumes of the Instances the caller may see',
  params: {
    id: param.uuid('The ID of the volume'),
    virtualmachineid: param.uuid('The ID of the Instance'),
    type: param.string('The type of the volume (ROOT, DATADISK)'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const scope = await listScope(services, caller, args, args.id !== undefined);
    // Filtered, ordered (by VM creation, then device id) and paged in SQL with each volume's VM:
    // a page costs an index range read however many volumes the store holds (issue 15, item 2).
    const page = await services.volumes.listPage(
      {
        accountId: scope.accountId,
        id: args.id,
        vmId: args.virtualmachineid,
        type: args.type,
        keyword: args.keyword,
      },
      listPaging(services, reader),
    );
    const lookups = await loadLookups(services, [], {
      account: page.rows.map((o) => o.vm.accountId),
      zone: page.rows.map((o) => o.vm.zoneId),
      pool: page.rows.map((o) => o.volume.poolId),
    });
    return pagedPayload('volume', page, (o) =>
      renderVolume(o.volume, o.vm, o.volume.state, o.volume.created, lookups, caller.isAdmin),
    );
  },
});
