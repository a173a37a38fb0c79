/**
 * A real btrfs for tests: a sparse loop file mounted by scripts/btrfs-up.sh, one per test file,
 * unmounted by scripts/btrfs-down.sh. Needs root, loop devices and btrfs-progs: without them the
 * tests skip locally with the reason, and fail in CI (`CI=true`), which must run them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const scripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts');

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why btrfs tests cannot run here, or null when they can. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not root (losetup/mount need root)';
  if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control)';
  if (!runs('btrfs', ['--version']) || !runs('mkfs.btrfs', ['--version']))
    return 'btrfs-progs not installed (apt-get install --no-install-recommends btrfs-progs)';
  return null;
}

export const btrfsMissing = missing();

/** `describe`, or `describe.skip` with the reason; in CI a missing btrfs fails. */
export function describeBtrfs(name: string, fn: () => void): void {
  if (btrfsMissing === null) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs btrfs (root, loop devices, btrfs-progs)', () => {
        expect.fail(`${btrfsMissing}, and CI=true: btrfs tests must run in CI`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${btrfsMissing})`, fn);
  }
}

export interface MountedBtrfs {
  /** The mount point (real path). */
  readonly mount: string;
  /** `<mount>/vmsnap`: the folder a btrfs pool's url names. */
  readonly poolPath: string;
  /** Unmounts, detaches the loop device and removes the file. */
  unmount(): void;
}

/** Mounts a fresh 8 GiB sparse btrfs (a few MiB of real disk in these tests). */
export function mountBtrfs(label: string): MountedBtrfs {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vmsnap-btrfs-${label}-`));
  const env = { ...process.env, FS_IMG: path.join(dir, 'fs.img'), FS_MNT: path.join(dir, 'mnt') };
  execFileSync(path.join(scripts, 'btrfs-up.sh'), { env, stdio: 'ignore', timeout: 60_000 });
  const mount = realpathSync(env.FS_MNT);
  return {
    mount,
    poolPath: path.join(mount, 'vmsnap'),
    unmount: () => {
      execFileSync(path.join(scripts, 'btrfs-down.sh'), { env, stdio: 'ignore', timeout: 120_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
