/**
 * # Where a caller's paths may lead on this host
 *
 * The agent has two roots, both resolved with `realpath` once at start:
 * - the **pool root** (`poolDir`, the one pool the agent reports in `GetInventory`): disks, overlays
 *   and RAM state files. A caller-supplied path (`CreateVM.poolPath`, any volume `path`) must
 *   resolve inside it, `poolPath` possibly to the root itself;
 * - the **state root** (`stateDir`): the agent's own state file and the QMP, guest-agent, pid and
 *   serial files of its VMs (`stateDir/run/`). Only names the schema already allowed are joined
 *   under it; a caller never names a path there (it could otherwise aim a disk at the state file).
 *
 * A path is resolved as the file system would: `realpath` of its longest existing prefix, so a
 * symlink planted in the pool that points outside is followed and refused. A dangling symlink
 * (where a new file would be written through it) is refused too.
 */
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { refusal, type Refusal } from './agent-protocol/refusal.ts';

export class PathConfinement {
  private constructor(
    readonly poolRoot: string,
    readonly stateRoot: string,
  ) {}

  /** Resolves the roots; they must exist. */
  static async of(poolDir: string, stateDir: string): Promise<PathConfinement> {
    return new PathConfinement(await realpath(poolDir), await realpath(stateDir));
  }

  /** Null when `file` (absolute, normalised) resolves inside the pool root; the refusal otherwise. */
  async inPool(file: string, field: string): Promise<Refusal | null> {
    const resolved = await resolveThroughLinks(file);
    if (resolved === null) return refusal(field, 'is a dangling or looping symbolic link');
    return within(resolved, this.poolRoot) ? null : refusal(field, 'resolves outside the agent pool');
  }
}

function within(resolved: string, root: string): boolean {
  return resolved === root || resolved.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * The real path `file` names: realpath of its longest existing prefix, plus the missing rest.
 * Null for a path that cannot be resolved safely (dangling or looping link, unreadable directory).
 */
async function resolveThroughLinks(file: string): Promise<string | null> {
  const missing: string[] = [];
  let prefix = file;
  for (;;) {
    try {
      return path.join(await realpath(prefix), ...missing);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
      if (await isLink(prefix)) return null; // exists as a link whose target does not
      const parent = path.dirname(prefix);
      if (parent === prefix) return null;
      missing.unshift(path.basename(prefix));
      prefix = parent;
    }
  }
}

async function isLink(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isSymbolicLink();
  } catch {
    return false;
  }
}
