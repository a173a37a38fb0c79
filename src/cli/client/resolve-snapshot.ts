/**
 * Snapshots are named on the command line by UUID or by display name. The API takes only ids
 * (a name gives CloudStack's "incorrect long value format"), so a name is looked up first among the
 * snapshots the caller can see (`listall=true`, as for VMs), optionally within one VM (`--vm`).
 * A name that several snapshots share is refused with the candidates, never guessed.
 */
import type { ApiClient } from './api-client.ts';
import { str } from './output.ts';
import { isUuid, resolveVm } from './resolve-vm.ts';

export interface SnapshotRef {
  readonly id: string;
  /** What to call it in messages: the name the user gave, or the id. */
  readonly label: string;
}

export async function resolveSnapshot(
  client: ApiClient,
  ref: string,
  vmRef: string | undefined,
): Promise<SnapshotRef> {
  if (isUuid(ref)) return { id: ref, label: ref };
  const vm = vmRef === undefined ? undefined : await resolveVm(client, vmRef);
  const found = await client.listAll('listVMSnapshot', 'vmSnapshot', {
    name: ref,
    listall: true,
    virtualmachineid: vm?.id,
  });
  const where = vm === undefined ? '' : ` of VM ${vm.name}`;
  const [only] = found;
  if (only === undefined) {
    throw new Error(
      `no snapshot named ${ref}${where} (\`vmsnap snapshot list\` shows the snapshots you can see)`,
    );
  }
  if (found.length > 1) {
    const candidates = found
      .map(
        (s) =>
          `${str(s['id'])} (VM ${str(s['virtualmachinename'])}, ${str(s['state'])}, ${str(s['created'])})`,
      )
      .join(', ');
    throw new Error(
      `${found.length} snapshots are named ${ref}${where}: ${candidates}; give the id` +
        (vm === undefined ? ' or --vm' : '') +
        ' instead',
    );
  }
  return { id: str(only['id']), label: ref };
}
