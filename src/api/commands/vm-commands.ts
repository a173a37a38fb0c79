/** listVirtualMachines, startVirtualMachine, stopVirtualMachine, listVolumes. */
import { defineCommand, listParams, param, required } from '../command.ts';
import { listPaging, listScope, matchesKeyword, pagedList, pagedPayload } from '../list-support.ts';
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
    const lookups = await loadLookups(services, { type: 'UserVm', ids: page.rows.map((v) => v.id) });
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
    const lookups = await loadLookups(services);
    const rows = await services.volumes.listLive();
    const vms = new Map((await services.inventory.listVms()).map((v) => [v.id, v]));
    const out = [];
    for (const vmId of new Set(rows.map((r) => r.vmId))) {
      if (vmId === null) continue;
      const vm = vms.get(vmId);
      if (vm === undefined || !scope.visible(vm.accountId)) continue;
      if (args.virtualmachineid !== undefined && vm.id !== args.virtualmachineid) continue;
      for (const v of await services.inventory.volumesOf(vmId)) {
        const row = rows.find((r) => r.id === v.id);
        if (args.id !== undefined && v.id !== args.id) continue;
        if (args.type !== undefined && v.type !== args.type.toUpperCase()) continue;
        if (!matchesKeyword(args.keyword, v.name)) continue;
        out.push({ v, vm, state: row?.state ?? 'Ready', created: row?.created ?? 0 });
      }
    }
    return pagedList(services, reader, 'volume', out, (o) =>
      renderVolume(o.v, o.vm, o.state, o.created, lookups, caller.isAdmin),
    );
  },
});
