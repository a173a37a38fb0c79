/**
 * VMs are named on the command line by UUID or by display name. Names are looked up with
 * `listall=true` so an admin finds any account's VM (a user's listall is its own account anyway).
 */
import type { ApiClient, Payload } from './api-client.ts';
import { itemsOf } from './api-client.ts';
import { str } from './output.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id rather than a name (names that look like UUIDs cannot be given by name). */
export function isUuid(ref: string): boolean {
  return UUID.test(ref);
}

export interface VmRef {
  readonly id: string;
  readonly name: string;
  readonly vm: Payload;
}

export async function resolveVm(client: ApiClient, ref: string): Promise<VmRef> {
  const byId = isUuid(ref);
  const payload = await client.call('listVirtualMachines', byId ? { id: ref } : { name: ref, listall: true });
  const vms = itemsOf(payload, 'virtualmachine');
  const [vm] = vms;
  if (vm === undefined) {
    throw new Error(
      `no VM ${byId ? 'with id' : 'named'} ${ref} (\`vmsnap vm list\` shows the VMs you can see)`,
    );
  }
  if (vms.length > 1) {
    const ids = vms.map((v) => `${str(v['id'])} (${str(v['account'])})`).join(', ');
    throw new Error(`${vms.length} VMs are named ${ref}: ${ids}; give the id instead`);
  }
  return { id: str(vm['id']), name: str(vm['name']) || ref, vm };
}
