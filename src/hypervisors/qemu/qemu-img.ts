/**
 * Thin wrappers over the `qemu-img` binary, for disks of VMs that are not running (offline snapshot,
 * merge, revert). Every call has a timeout. `snapshot -c` accepts a duplicate tag (qemu-img 7.2 adds a
 * second snapshot of the same name under a new ID), so {@link snapshotCreate} refuses one itself.
 */
import { execFile } from 'node:child_process';
import { withPrivateFile } from './private-files.ts';

const DEFAULT_TIMEOUT_MS = 120_000;

export class QemuImgError extends Error {
  override readonly name = 'QemuImgError';
}

export async function qemuImg(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'qemu-img',
      [...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const why = stderr.trim() || error.message;
          reject(new QemuImgError(`qemu-img ${args.join(' ')}: ${why}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

export interface ImageInfo {
  readonly filename: string;
  readonly format: string;
  readonly virtualSize: number;
  readonly actualSize: number;
  readonly backingFile: string | null;
  readonly snapshots: readonly { id: string; name: string; vmStateSize: number }[];
}

function parseImageInfo(raw: unknown): ImageInfo {
  const o = (raw ?? {}) as Record<string, unknown>;
  const snaps = Array.isArray(o.snapshots) ? (o.snapshots as Record<string, unknown>[]) : [];
  return {
    filename: typeof o.filename === 'string' ? o.filename : '',
    format: typeof o.format === 'string' ? o.format : '',
    virtualSize: Number(o['virtual-size'] ?? 0),
    actualSize: Number(o['actual-size'] ?? 0),
    backingFile: typeof o['full-backing-filename'] === 'string' ? o['full-backing-filename'] : null,
    snapshots: snaps.map((s) => ({
      id: String(s.id),
      name: String(s.name),
      vmStateSize: Number(s['vm-state-size'] ?? 0),
    })),
  };
}

/** `qemu-img info --output=json`; `forceShare` reads an image a running VM holds (`-U`). */
export async function info(path: string, forceShare = false): Promise<ImageInfo> {
  const out = await qemuImg(['info', '--output=json', ...(forceShare ? ['-U'] : []), path]);
  return parseImageInfo(JSON.parse(out));
}

/**
 * A new, empty qcow2 image: created 0600 and exclusively first (`private-files.ts`), so qemu-img
 * never writes through a name that already exists or a planted symbolic link.
 */
export async function create(path: string, sizeBytes: number): Promise<void> {
  await withPrivateFile(path, () => qemuImg(['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]));
}

/** A qcow2 overlay over `backing` (absolute path), same virtual size; new and 0600 like {@link create}. */
export async function createOverlay(path: string, backing: string): Promise<void> {
  await withPrivateFile(path, () =>
    qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, path]),
  );
}

/**
 * An overlay over an image a running VM holds (its write lock forbids opening `backing`: `-u`, and
 * the size is given instead); new and 0600 like {@link create}.
 */
export async function createOverlayUnsafe(path: string, backing: string, sizeBytes: number): Promise<void> {
  await withPrivateFile(path, () =>
    qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-F', 'qcow2', '-b', backing, path, String(sizeBytes)]),
  );
}

export async function snapshotList(path: string, forceShare = false): Promise<ImageInfo['snapshots']> {
  return (await info(path, forceShare)).snapshots;
}

export async function snapshotCreate(path: string, tag: string): Promise<void> {
  const existing = await snapshotList(path);
  if (existing.some((s) => s.name === tag)) {
    throw new QemuImgError(`snapshot '${tag}' already exists in ${path}`);
  }
  await qemuImg(['snapshot', '-c', tag, path]);
}

export async function snapshotApply(path: string, tag: string): Promise<void> {
  await qemuImg(['snapshot', '-a', tag, path]);
}

export async function snapshotDelete(path: string, tag: string): Promise<void> {
  await qemuImg(['snapshot', '-d', tag, path]);
}

/** Writes `overlay`'s data into its backing file (the overlay file stays; callers remove it). */
export async function commit(overlay: string): Promise<void> {
  await qemuImg(['commit', '-q', '-d', overlay]);
}

/**
 * Points `image` at a new backing file. `unsafe` only rewrites the header (the caller knows the data
 * is identical); otherwise qemu-img copies the differing clusters into `image`.
 */
export async function rebase(image: string, newBacking: string | null, unsafe: boolean): Promise<void> {
  const backingArgs = newBacking ? ['-b', newBacking, '-F', 'qcow2'] : ['-b', ''];
  await qemuImg(['rebase', '-q', ...(unsafe ? ['-u'] : []), '-f', 'qcow2', ...backingArgs, image]);
}
