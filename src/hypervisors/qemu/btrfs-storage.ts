/**
 * # Host-local btrfs storage on a QEMU host (the `Storage*` commands)
 *
 * The `btrfs` storage driver reaches a VM's disks through this host's agent. Layout under a pool
 * folder (on a btrfs file system, inside the agent's pool root):
 * - `vms/<vm>`: one subvolume per VM holding all of its disk files (the atomic unit);
 * - `snaps/<vm>@<snapshot>`: read-only snapshots of it.
 *
 * A snapshot of a running VM is cut as the storage lab measured it (reference/storage-lab, B):
 * `btrfs filesystem sync` while the VM still runs (so the pause does not pay for the page-cache
 * writeback), QMP `stop` (drains in-flight I/O and QEMU's qcow2 metadata caches), the read-only
 * snapshot (about 8 ms, every disk at one instant), QMP `cont`. A restore swaps subvolumes, which is
 * only safe with no QEMU on the old files: it is refused while one runs. Deleted subvolumes free
 * their space asynchronously, so every delete commits and waits for the cleaner (`btrfs subvolume
 * sync`) on the subvolumes it deleted, or the next VM could hit ENOSPC.
 */
import { execFile } from 'node:child_process';
import { chmod, readdir, rename, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AnswerOf, CommandOf, VolumeTO } from '../../core/plugin-api.ts';
import type { AgentContext, Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import { NAME_PATTERN } from './agent-protocol/fields.ts';
import { ensurePrivateDir, PRIVATE_DIR_MODE } from './private-files.ts';

const run = promisify(execFile);
const BTRFS_MAGIC = 0x9123683e;
const FS_NAMES: Readonly<Record<number, string>> = {
  [BTRFS_MAGIC]: 'btrfs',
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x01021994: 'tmpfs',
};
/** A `btrfs` call: snapshots take milliseconds, a cleaner wait seconds; a hung one must not block a VM. */
const BTRFS_TIMEOUT_MS = 120_000;

async function btrfs(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('btrfs', args, { timeout: BTRFS_TIMEOUT_MS, maxBuffer: 1 << 20 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`btrfs ${args[0]} ${args[1] ?? ''} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

interface Layout {
  readonly sub: string;
  readonly snaps: string;
}

function layoutOf(poolPath: string, subvolume: string): Layout {
  return { sub: path.join(poolPath, 'vms', subvolume), snaps: path.join(poolPath, 'snaps') };
}

function snapshotDir(layout: Layout, subvolume: string, snapshot: string): string {
  return path.join(layout.snaps, `${subvolume}@${snapshot}`);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function fsTypeOf(dir: string): Promise<string> {
  const type = (await statfs(dir)).type;
  return FS_NAMES[type] ?? `0x${type.toString(16)}`;
}

async function requireBtrfs(poolPath: string): Promise<void> {
  if (!(await exists(poolPath))) fail(`pool folder ${poolPath} does not exist on this host`);
  const type = await fsTypeOf(poolPath);
  if (type !== 'btrfs') fail(`pool folder ${poolPath} is on ${type}, not on btrfs`);
}

/** Every subvolume command starts here: the pool must be a btrfs folder; then where things are. */
async function btrfsLayout(command: {
  readonly poolPath: string;
  readonly subvolume: string;
}): Promise<Layout> {
  await requireBtrfs(command.poolPath);
  return layoutOf(command.poolPath, command.subvolume);
}

export async function storageFsStats(command: CommandOf<'StorageFsStats'>): Answer<'StorageFsStats'> {
  if (!(await exists(command.poolPath)))
    return { result: true, exists: false, fsType: '', capacityBytes: 0, usedBytes: 0 };
  const fs = await statfs(command.poolPath);
  return {
    result: true,
    exists: true,
    fsType: FS_NAMES[fs.type] ?? `0x${fs.type.toString(16)}`,
    capacityBytes: fs.bsize * fs.blocks,
    usedBytes: fs.bsize * (fs.blocks - fs.bfree),
  };
}

/** Creates `vms/<subvolume>` (idempotent); also used by CreateVM for a btrfs pool's VM. */
export async function createSubvolume(poolPath: string, subvolume: string): Promise<string> {
  const layout = await btrfsLayout({ poolPath, subvolume });
  await ensurePrivateDir(path.dirname(layout.sub));
  await ensurePrivateDir(layout.snaps);
  if (!(await exists(layout.sub))) {
    await btrfs('subvolume', 'create', layout.sub);
    await chmod(layout.sub, PRIVATE_DIR_MODE);
  }
  return layout.sub;
}

export async function storageSubvolumeCreate(
  command: CommandOf<'StorageSubvolumeCreate'>,
): Answer<'StorageSubvolumeCreate'> {
  await createSubvolume(command.poolPath, command.subvolume);
  return { result: true };
}

/** The running VM whose disks live in `subDir`, if any. */
function vmRunningOn(ctx: AgentContext, subDir: string): string | null {
  for (const name of ctx.running.keys()) {
    const vm = ctx.store.vm(name);
    if (vm?.disks.some((d) => d.active.startsWith(subDir + path.sep))) return name;
  }
  return null;
}

export async function storageSubvolumeSnapshot(
  ctx: AgentContext,
  command: CommandOf<'StorageSubvolumeSnapshot'>,
): Answer<'StorageSubvolumeSnapshot'> {
  const layout = await btrfsLayout(command);
  if (!(await exists(layout.sub))) fail(`subvolume ${command.subvolume} does not exist`);
  const target = snapshotDir(layout, command.subvolume, command.snapshot);
  if (await exists(target)) fail(`snapshot ${command.snapshot} of ${command.subvolume} already exists`);
  await ensurePrivateDir(layout.snaps);
  const vmName = vmRunningOn(ctx, layout.sub);
  const vm = vmName === null ? undefined : ctx.running.get(vmName);
  // A VM someone else paused stays paused: only a running one is stopped here, and continued.
  if (!vm || (await vm.status()) !== 'running') {
    await btrfs('subvolume', 'snapshot', '-r', layout.sub, target);
    return { result: true, pauseMs: 0 };
  }
  await btrfs('filesystem', 'sync', layout.sub); // VM still running: flush the page cache first
  const pausedAt = performance.now();
  await vm.qmp.execute('stop');
  try {
    await btrfs('subvolume', 'snapshot', '-r', layout.sub, target);
  } finally {
    await vm.qmp.execute('cont');
  }
  return { result: true, pauseMs: Math.round(performance.now() - pausedAt) };
}

/** Snapshots of a subvolume, oldest first: btrfs subvolume ids only grow. */
async function snapshotsOf(layout: Layout, subvolume: string): Promise<{ name: string; dir: string }[]> {
  const prefix = `${subvolume}@`;
  const names = (await readdir(layout.snaps).catch(() => [] as string[]))
    .filter((entry) => entry.startsWith(prefix))
    .map((entry) => entry.slice(prefix.length))
    .filter((name) => NAME_PATTERN.test(name));
  const withIds = await Promise.all(
    names.map(async (name) => {
      const dir = snapshotDir(layout, subvolume, name);
      const id = Number.parseInt((await btrfs('inspect-internal', 'rootid', dir)).trim(), 10);
      return { name, dir, id };
    }),
  );
  return withIds.sort((a, b) => a.id - b.id);
}

export async function storageSubvolumeList(
  ctx: AgentContext,
  command: CommandOf<'StorageSubvolumeList'>,
): Answer<'StorageSubvolumeList'> {
  const layout = await btrfsLayout(command);
  const snapshots = await Promise.all(
    (await snapshotsOf(layout, command.subvolume)).map(async (s) => ({
      name: s.name,
      files: (await readdir(s.dir)).filter((f) => NAME_PATTERN.test(f)).sort(),
    })),
  );
  const answer: AnswerOf<'StorageSubvolumeList'> = {
    result: true,
    exists: await exists(layout.sub),
    inUse: vmRunningOn(ctx, layout.sub) !== null,
    snapshots,
  };
  return answer;
}

export async function storageSubvolumeRestore(
  ctx: AgentContext,
  command: CommandOf<'StorageSubvolumeRestore'>,
): Answer<'StorageSubvolumeRestore'> {
  const layout = await btrfsLayout(command);
  const running = vmRunningOn(ctx, layout.sub);
  // QEMU holds the old inodes open: a swap under it would leave it writing to a deleted subvolume.
  if (running !== null) fail(`VM ${running} is running on ${command.subvolume}: stop it before a revert`);
  const source = snapshotDir(layout, command.subvolume, command.snapshot);
  if (!(await exists(source))) fail(`snapshot ${command.snapshot} of ${command.subvolume} does not exist`);
  if (command.file !== undefined) {
    await restoreFile(source, layout.sub, command.file);
    return { result: true };
  }
  const old = path.join(path.dirname(layout.sub), `.${command.subvolume}.old`);
  if (await exists(old)) await deleteSubvolumes([old], command.poolPath); // a restore cut short
  const hadLive = await exists(layout.sub);
  if (hadLive) await rename(layout.sub, old);
  try {
    await btrfs('subvolume', 'snapshot', source, layout.sub); // a writable clone of the snapshot
  } catch (error) {
    if (hadLive) await rename(old, layout.sub);
    throw error;
  }
  await chmod(layout.sub, PRIVATE_DIR_MODE);
  if (hadLive) await deleteSubvolumes([old], command.poolPath);
  return { result: true };
}

/** One disk file back from a snapshot (a per-volume snapshot): a reflink copy, renamed into place. */
async function restoreFile(snapshotDirPath: string, subDir: string, file: string): Promise<void> {
  const from = path.join(snapshotDirPath, file);
  if (!(await exists(from))) fail(`the snapshot holds no disk file ${file}`);
  const temp = path.join(subDir, `.${file}.restore`);
  await run('cp', ['--reflink=always', '--', from, temp], { timeout: BTRFS_TIMEOUT_MS });
  await rename(temp, path.join(subDir, file));
}

export async function storageSubvolumeDelete(
  ctx: AgentContext,
  command: CommandOf<'StorageSubvolumeDelete'>,
): Answer<'StorageSubvolumeDelete'> {
  const layout = await btrfsLayout(command);
  if (command.snapshot !== undefined) {
    const dir = snapshotDir(layout, command.subvolume, command.snapshot);
    if (await exists(dir)) await deleteSubvolumes([dir], command.poolPath);
    return { result: true };
  }
  const running = vmRunningOn(ctx, layout.sub);
  if (running !== null) fail(`VM ${running} is running on ${command.subvolume}`);
  const dirs = (await snapshotsOf(layout, command.subvolume)).map((s) => s.dir);
  if (await exists(layout.sub)) dirs.push(layout.sub);
  await deleteSubvolumes(dirs, command.poolPath);
  return { result: true };
}

/** Deletes subvolumes and waits for the cleaner to free their space (it runs asynchronously). */
async function deleteSubvolumes(dirs: readonly string[], poolPath: string): Promise<void> {
  if (dirs.length === 0) return;
  const ids = await Promise.all(
    dirs.map(async (dir) => (await btrfs('inspect-internal', 'rootid', dir)).trim()),
  );
  // --commit-after: the cleaner runs after a transaction commit, which otherwise comes only with the
  // 30 s commit interval (measured: the sync then waits 31 s instead of 40 ms).
  await btrfs('subvolume', 'delete', '--commit-after', ...dirs);
  await btrfs('subvolume', 'sync', poolPath, ...ids);
}

/**
 * Where CreateVM puts a VM's disks: on a btrfs pool (a volume that names the `btrfs` provider), in
 * the VM's own subvolume `<pool>/vms/<vm>`, created here; otherwise null (the pool folder itself).
 */
export async function btrfsDiskDir(
  vmName: string,
  volumes: readonly VolumeTO[],
  poolDir: string,
): Promise<string | null> {
  const onBtrfs = volumes.some((v) => v.pool?.provider === 'btrfs');
  if (!onBtrfs) return null;
  return createSubvolume(poolDir, vmName);
}

/** On DestroyVM: the VM's subvolume and its snapshots go with it, when it has one. */
export async function dropVmSubvolume(poolDir: string, vmName: string): Promise<void> {
  const layout = layoutOf(poolDir, vmName);
  if (!(await exists(layout.sub)) || (await fsTypeOf(poolDir)) !== 'btrfs') return;
  const dirs = (await snapshotsOf(layout, vmName)).map((s) => s.dir);
  await deleteSubvolumes([...dirs, layout.sub], poolDir);
}
