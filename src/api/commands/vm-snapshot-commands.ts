/** createVMSnapshot, listVMSnapshot, revertToVMSnapshot, deleteVMSnapshot (CloudStack 4.2+ shapes). */
import { InvalidParameterError } from '../../core/errors.ts';
import { LISTED_BY_DEFAULT, VM_SNAPSHOT_STATES } from '../../core/vm-snapshot-state.ts';
import { MEMORY_SNAPSHOT_MODES, QUIESCE_POLICIES, type VmSnapshotState } from '../../core/plugin-api.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { loadLookups } from '../render/lookups.ts';
import { renderVmSnapshot } from '../render/vm-snapshot-response.ts';

export const createVMSnapshot = defineCommand({
  name: 'createVMSnapshot',
  description: 'Creates a snapshot for an Instance (async). vmsnap extensions: memorymode, quiescepolicy.',
  async: true,
  since: '4.2.0',
  params: {
    virtualmachineid: required(param.uuid('The ID of the Instance')),
    name: param.string('The display name of the snapshot'),
    description: param.string('The description of the snapshot'),
    snapshotmemory: param.boolean('Snapshot memory if true'),
    quiescevm: param.boolean('Quiesce the Instance (guest agent freeze) if true'),
    memorymode: param.enumOf(
      MEMORY_SNAPSHOT_MODES,
      'vmsnap: live (background RAM save) or internal (snapshot-save), QEMU hosts',
    ),
    quiescepolicy: param.enumOf(
      QUIESCE_POLICIES,
      'vmsnap: required (fail without a guest agent) or best-effort',
    ),
  },
  async handler({ services, caller, args }) {
    const options = {
      ...(args.memorymode !== undefined ? { memoryMode: args.memorymode } : {}),
      ...(args.quiescepolicy !== undefined ? { quiescePolicy: args.quiescepolicy } : {}),
    };
    const { snapshot, jobId } = await services.snapshotManager.create(caller, {
      vmId: args.virtualmachineid,
      ...(args.name !== undefined ? { name: args.name } : {}),
      ...(args.description !== undefined ? { description: args.description } : {}),
      snapshotMemory: args.snapshotmemory ?? false,
      quiesce: args.quiescevm ?? false,
      options,
    });
    return { id: snapshot.id, jobid: jobId };
  },
});

export const listVMSnapshot = defineCommand({
  name: 'listVMSnapshot',
  description: 'List snapshots of Instances, newest first',
  since: '4.2.0',
  params: {
    vmsnapshotid: param.uuid('The ID of the snapshot'),
    vmsnapshotids: param.uuids('The IDs of the snapshots, mutually exclusive with vmsnapshotid'),
    state: param.string('State of the snapshot'),
    virtualmachineid: param.uuid('The ID of the Instance'),
    name: param.string('Lists snapshots by display name'),
    tags: param.map('List resources by tags (key/value pairs)'),
    vmsnapshotpolicyid: param.uuid('vmsnap: only the snapshots this VM snapshot policy took'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    if (args.vmsnapshotid !== undefined && args.vmsnapshotids !== undefined) {
      throw new InvalidParameterError('Specify either id or ids but not both parameters');
    }
    if (args.state !== undefined && !VM_SNAPSHOT_STATES.includes(args.state as VmSnapshotState)) {
      throw new InvalidParameterError(
        `Unable to execute API command listvmsnapshot due to invalid value. Invalid parameter state value=${args.state}`,
      );
    }
    const ids = args.vmsnapshotids ?? (args.vmsnapshotid !== undefined ? [args.vmsnapshotid] : undefined);
    const scope = await listScope(services, caller, args, ids !== undefined);
    // Filtered, ordered (newest first) and paged in SQL, with each row's VM and live parent: a page
    // costs an index range read however many snapshots the store holds (issue 15, item 2).
    const page = await services.snapshots.listPage(
      {
        ids,
        vmId: args.virtualmachineid,
        accountId: scope.accountId,
        states: args.state !== undefined ? [args.state] : LISTED_BY_DEFAULT,
        displayName: args.name,
        keyword: args.keyword,
        tags: args.tags,
        policyId: args.vmsnapshotpolicyid,
      },
      listPaging(services, reader),
    );
    // Only the page's names, by key: a list must not read every account and zone of the cloud.
    const lookups = await loadLookups(
      services,
      { type: 'VMSnapshot', ids: page.rows.map((r) => r.snapshot.id) },
      {
        account: page.rows.map((r) => r.snapshot.accountId),
        zone: page.rows.flatMap((r) => (r.vm === undefined ? [] : [r.vm.zoneId])),
      },
    );
    return pagedPayload('vmSnapshot', page, (r) =>
      renderVmSnapshot(r.snapshot, r.vm, r.parent, lookups, r.virtualSize),
    );
  },
});

export const revertToVMSnapshot = defineCommand({
  name: 'revertToVMSnapshot',
  description: 'Revert an Instance to a snapshot (async)',
  async: true,
  since: '4.2.0',
  params: { vmsnapshotid: required(param.uuid('The ID of the snapshot')) },
  async handler({ services, caller, args }) {
    const { jobId } = await services.snapshotManager.revert(caller, args.vmsnapshotid);
    return { jobid: jobId };
  },
});

export const deleteVMSnapshot = defineCommand({
  name: 'deleteVMSnapshot',
  description: 'Deletes a snapshot of an Instance (async)',
  async: true,
  since: '4.2.0',
  params: { vmsnapshotid: required(param.uuid('The ID of the snapshot')) },
  async handler({ services, caller, args }) {
    const { jobId } = await services.snapshotManager.delete(caller, args.vmsnapshotid);
    return { jobid: jobId };
  },
});

/** CloudStack joins tag pairs with OR; no tags asked means no filter. */
export function matchesTags(
  have: readonly { key: string; value: string }[],
  wanted: readonly { key: string; value: string }[],
): boolean {
  if (wanted.length === 0) return true;
  return wanted.some((w) => have.some((h) => h.key === w.key && (w.value === '' || h.value === w.value)));
}
