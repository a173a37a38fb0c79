/** createVMSnapshot, listVMSnapshot, revertToVMSnapshot, deleteVMSnapshot (CloudStack 4.2+ shapes). */
import { InvalidParameterError } from '../../core/errors.ts';
import { LISTED_BY_DEFAULT, VM_SNAPSHOT_STATES } from '../../core/vm-snapshot-state.ts';
import { MEMORY_SNAPSHOT_MODES, QUIESCE_POLICIES, type VmSnapshotState } from '../../core/plugin-api.ts';
import type { StoredVmSnapshot } from '../../store/vm-snapshot-store.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { listScope, matchesKeyword, pagedList } from '../list-support.ts';
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
    const states: readonly string[] = args.state !== undefined ? [args.state] : LISTED_BY_DEFAULT;
    const candidates = await services.snapshots.matchingIds({ ids, vmId: args.virtualmachineid });
    const vmIds = [...new Set(candidates.map((c) => c.vmId))];
    const all: StoredVmSnapshot[] = [];
    for (const vmId of vmIds) all.push(...(await services.snapshots.listByVm(vmId)));
    const wanted = new Set(candidates.map((c) => c.id));
    const lookups = await loadLookups(services, { type: 'VMSnapshot' });
    const byId = new Map(all.map((s) => [s.id, s]));
    const filtered = all
      .filter((s) => wanted.has(s.id))
      .filter((s) => scope.visible(s.accountId))
      .filter((s) => states.includes(s.state))
      .filter((s) => args.name === undefined || s.displayName === args.name)
      .filter((s) => matchesKeyword(args.keyword, s.name, s.displayName, s.description))
      .filter((s) => matchesTags(lookups.tagsOf('VMSnapshot', s.id), args.tags))
      .sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id));
    const vms = new Map((await services.inventory.listVms()).map((v) => [v.id, v]));
    return pagedList(services, reader, 'vmSnapshot', filtered, (s) =>
      renderVmSnapshot(s, vms.get(s.vmId), s.parentId === null ? undefined : byId.get(s.parentId), lookups),
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
