/**
 * The snapshot tree of each VM, from listVMSnapshot's flat list: a snapshot sits under its
 * `parent`; a snapshot whose parent is gone (deleted, or filtered out) is a root. Siblings are in
 * creation order, so the rows read top-down as the VM's history.
 */
import type { Payload } from './api-client.ts';
import { str } from './output.ts';

export interface TreeRow {
  readonly snapshot: Payload;
  readonly depth: number;
}

export interface VmTree {
  readonly vmId: string;
  readonly vmName: string;
  readonly rows: readonly TreeRow[];
}

/** One tree per VM, VMs ordered by name. */
export function snapshotTrees(snapshots: readonly Payload[]): VmTree[] {
  const byVm = new Map<string, Payload[]>();
  for (const s of snapshots) {
    const vmId = str(s['virtualmachineid']);
    byVm.set(vmId, [...(byVm.get(vmId) ?? []), s]);
  }
  const trees = [...byVm.entries()].map(([vmId, list]) => ({
    vmId,
    vmName: str(list[0]?.['virtualmachinename']) || vmId,
    rows: treeRows(list),
  }));
  return trees.sort((a, b) => a.vmName.localeCompare(b.vmName) || a.vmId.localeCompare(b.vmId));
}

/** Depth-first rows of one VM's snapshots. */
export function treeRows(snapshots: readonly Payload[]): TreeRow[] {
  const ids = new Set(snapshots.map((s) => str(s['id'])));
  const children = new Map<string, Payload[]>();
  const roots: Payload[] = [];
  for (const s of [...snapshots].reverse().sort(byCreated)) {
    const parent = str(s['parent']);
    if (parent !== '' && ids.has(parent)) children.set(parent, [...(children.get(parent) ?? []), s]);
    else roots.push(s);
  }
  const rows: TreeRow[] = [];
  const visited = new Set<string>();
  const walk = (root: Payload): void => {
    // Iterative, with a visited set: a malformed parent cycle must not hang the CLI.
    const stack: TreeRow[] = [{ snapshot: root, depth: 0 }];
    while (stack.length > 0) {
      const row = stack.pop();
      if (row === undefined) break;
      const id = str(row.snapshot['id']);
      if (visited.has(id)) continue;
      visited.add(id);
      rows.push(row);
      const kids = children.get(id) ?? [];
      for (let i = kids.length - 1; i >= 0; i--) {
        const kid = kids[i];
        if (kid !== undefined) stack.push({ snapshot: kid, depth: row.depth + 1 });
      }
    }
  };
  for (const root of roots) walk(root);
  // Snapshots only reachable through a cycle still get listed, as roots.
  for (const s of snapshots) if (!visited.has(str(s['id']))) walk(s);
  return rows;
}

/** `name`, `└─ name`, `   └─ name` … */
export function treeLabel(row: TreeRow): string {
  const name = str(row.snapshot['displayname']) || str(row.snapshot['name']) || str(row.snapshot['id']);
  return row.depth === 0 ? name : `${'   '.repeat(row.depth - 1)}└─ ${name}`;
}

// `created` has one-second resolution; the server lists newest first, so reversing before this
// stable sort keeps same-second siblings oldest first.
function byCreated(a: Payload, b: Payload): number {
  return str(a['created']).localeCompare(str(b['created']));
}
