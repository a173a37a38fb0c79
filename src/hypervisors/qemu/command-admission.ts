/**
 * # Admitting a command on the host agent
 *
 * Every command the agent runs passes here first, whoever sent it (the HTTP server, or in-process
 * callers): the protocol schema (`agent-protocol/commands.ts`: safe names, UUIDs, bounded integers,
 * clean absolute paths), then the file system check that every path it carries stays inside the
 * pool root (`path-confinement.ts`). Nothing is touched before both pass, so a refused command
 * changes nothing; the refusal names the field.
 */
import type { AgentCommand, VolumeTO } from '../../core/plugin-api.ts';
import { parseAgentCommand } from './agent-protocol/commands.ts';
import type { Checked, Refusal } from './agent-protocol/refusal.ts';
import type { PathConfinement } from './path-confinement.ts';

export async function admitCommand(
  confinement: PathConfinement,
  body: unknown,
): Promise<Checked<AgentCommand>> {
  const parsed = parseAgentCommand(body);
  if (!parsed.ok) return parsed;
  const refused = await confinePaths(confinement, parsed.value);
  return refused ?? parsed;
}

async function confinePaths(confinement: PathConfinement, command: AgentCommand): Promise<Refusal | null> {
  switch (command.kind) {
    case 'CreateVM': {
      if (command.poolPath !== undefined) {
        const refused = await confinement.inPool(command.poolPath, 'poolPath');
        if (refused) return refused;
      }
      return confineVolumes(confinement, command.vm.volumes, 'vm.volumes');
    }
    case 'StartVM':
      return confineVolumes(confinement, command.vm.volumes, 'vm.volumes');
    case 'CreateVMSnapshot':
    case 'RevertToVMSnapshot':
    case 'DeleteVMSnapshot':
      return confineVolumes(confinement, command.volumes, 'volumes');
    case 'StorageFsStats':
    case 'StorageSubvolumeCreate':
    case 'StorageSubvolumeSnapshot':
    case 'StorageSubvolumeList':
    case 'StorageSubvolumeRestore':
    case 'StorageSubvolumeDelete':
      // The pool folder is confined like any path; the names are joined under it by the agent.
      return confinement.inPool(command.poolPath, 'poolPath');
    case 'CheckVMSnapshot':
    case 'StopVM':
    case 'FreezeThaw':
    case 'GuestPing':
    case 'GetVmStates':
    case 'DestroyVM':
    case 'GetInventory':
    case 'Ping':
      return null; // names only, checked by the schema
  }
}

async function confineVolumes(
  confinement: PathConfinement,
  volumes: readonly VolumeTO[],
  field: string,
): Promise<Refusal | null> {
  for (const [i, volume] of volumes.entries()) {
    if (volume.path === '') continue; // the host picks the path (CreateVM)
    if (volume.pool?.provider === 'ceph-rbd') continue; // an RBD image (its name checked by the schema)
    const refused = await confinement.inPool(volume.path, `${field}.${i}.path`);
    if (refused) return refused;
  }
  return null;
}
