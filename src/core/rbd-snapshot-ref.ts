/**
 * How a ceph-rbd volume snapshot is named in vmsnap's records (`DriverVolumeSnapshot.ref`), so that
 * revert and delete need nothing but the ref and the volume's pool:
 *  - a piece of a group snapshot: `<group>@<group snap>/<image>` (revert and delete act on the whole
 *    group snapshot: Pacific can neither roll back nor remove one image's piece of it);
 *  - a plain image snapshot (the per-volume fallback): `<image>@<snap>`.
 * RBD names never contain `@` or `/`, so the forms cannot be confused.
 *
 * In the core because two layers must agree on these names: the `ceph-rbd` storage driver and the
 * QEMU host agent, whose memory snapshots cut the same group (neither imports the other).
 */
import { isRbdName } from './rbd-pool-url.ts';

export type RbdSnapshotRef =
  | { readonly kind: 'group'; readonly group: string; readonly snap: string; readonly image: string }
  | { readonly kind: 'image'; readonly image: string; readonly snap: string };

export function formatRef(ref: RbdSnapshotRef): string {
  return ref.kind === 'group' ? `${ref.group}@${ref.snap}/${ref.image}` : `${ref.image}@${ref.snap}`;
}

export function parseRef(text: string): RbdSnapshotRef {
  const group = /^([^@/]+)@([^@/]+)\/([^@/]+)$/.exec(text);
  if (group && [group[1]!, group[2]!, group[3]!].every(isRbdName))
    return { kind: 'group', group: group[1]!, snap: group[2]!, image: group[3]! };
  const image = /^([^@/]+)@([^@/]+)$/.exec(text);
  if (image && isRbdName(image[1]!) && isRbdName(image[2]!))
    return { kind: 'image', image: image[1]!, snap: image[2]! };
  throw new Error(`not a ceph-rbd snapshot reference: ${text}`);
}

/** The RBD group that holds one VM's images (one group per VM and Ceph pool). */
export function groupNameOf(vmId: string): string {
  return `vmsnap-${vmId.replace(/[^A-Za-z0-9._-]/g, '_')}`.slice(0, 128);
}

/** The group (or image) snapshot name for one vmsnap snapshot: its id, unique and stable. */
export function snapNameOf(snapshotId: string): string {
  const name = snapshotId.replace(/[^A-Za-z0-9._-]/g, '_');
  return isRbdName(name) ? name : `s${name}`.slice(0, 128);
}
