/**
 * Block operations on a running QEMU, over QMP: find a disk's top node, cut all disks in one atomic
 * transaction, merge with block-commit. (Saving and loading RAM is in ram-save.ts.)
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as img from './qemu-img.ts';
import type { QmpClient } from './qmp-client.ts';

export interface TopNode {
  readonly node: string;
  readonly file: string;
}

interface QueryBlockEntry {
  qdev?: string;
  inserted?: { 'node-name'?: string; file?: string };
}

/** Top node and file of each disk, by device id (`vd<id>` qdevs). */
export async function topNodes(qmp: QmpClient): Promise<Map<number, TopNode>> {
  const blocks = (await qmp.execute('query-block')) as QueryBlockEntry[];
  const result = new Map<number, TopNode>();
  for (const block of blocks) {
    const match = /^\/machine\/peripheral\/vd(\d+)\/virtio-backend$/.exec(block.qdev ?? '');
    const node = block.inserted?.['node-name'];
    if (match?.[1] && node && block.inserted?.file) {
      result.set(Number(match[1]), { node, file: block.inserted.file });
    }
  }
  return result;
}

/** The qcow2 node QEMU opened for `file` (backing nodes get generated names), or null. */
export async function nodeForFile(qmp: QmpClient, file: string): Promise<string | null> {
  const nodes = (await qmp.execute('query-named-block-nodes', { flat: true })) as {
    'node-name'?: string;
    drv?: string;
    file?: string;
  }[];
  return nodes.find((n) => n.drv === 'qcow2' && n.file === file)?.['node-name'] ?? null;
}

export interface DiskCut {
  /** Current top node of the disk, and its file (the overlay's backing file). */
  readonly node: string;
  readonly file: string;
  readonly overlay: string;
  readonly overlayNode: string;
}

/**
 * External snapshot of all disks in ONE transaction (atomic across disks).
 *
 * The overlays are created and opened (`blockdev-add`) before the transaction, so the transaction,
 * which is the guest's freeze window, only switches the graph (`blockdev-snapshot`); creating the files
 * inside it (`blockdev-snapshot-sync`) costs several flushes per disk. On failure every overlay node
 * and file is removed (when one action of a transaction fails, QEMU 7.2 drops the whole transaction but leaves the
 * files it created for the others on disk).
 */
export async function prepareCut(
  qmp: QmpClient,
  cuts: readonly DiskCut[],
  sizes: ReadonlyMap<string, number>,
): Promise<void> {
  const existing = cuts.filter((c) => existsSync(c.overlay)).map((c) => c.overlay);
  if (existing.length > 0) throw new Error(`overlay file already exists: ${existing.join(', ')}`);
  try {
    for (const c of cuts) {
      await img.createOverlayUnsafe(c.overlay, c.file, sizes.get(c.file) ?? 0);
      await qmp.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': c.overlayNode,
        discard: 'unmap',
        file: { driver: 'file', filename: c.overlay, discard: 'unmap' },
        backing: null,
      });
    }
  } catch (error) {
    await abandonCut(qmp, cuts);
    throw error;
  }
}

/** Switches every disk onto its prepared overlay, atomically. */
export async function commitCut(qmp: QmpClient, cuts: readonly DiskCut[]): Promise<void> {
  try {
    await qmp.execute('transaction', {
      actions: cuts.map((c) => ({
        type: 'blockdev-snapshot',
        data: { node: c.node, overlay: c.overlayNode },
      })),
    });
  } catch (error) {
    await abandonCut(qmp, cuts);
    throw error;
  }
}

/** Removes prepared overlay nodes and files that no disk switched to. */
export async function abandonCut(qmp: QmpClient, cuts: readonly DiskCut[]): Promise<void> {
  for (const c of cuts)
    await qmp.execute('blockdev-del', { 'node-name': c.overlayNode }).catch(() => undefined);
  await Promise.all(cuts.map((c) => rm(c.overlay, { force: true })));
}

/** prepareCut + commitCut. */
export async function cutDisks(
  qmp: QmpClient,
  cuts: readonly DiskCut[],
  sizes: ReadonlyMap<string, number>,
): Promise<void> {
  await prepareCut(qmp, cuts, sizes);
  await commitCut(qmp, cuts);
}

/**
 * A fresh job id. QEMU accepts only ids that start with a letter and go on with letters, digits,
 * `-`, `.` and `_` (`id_wellformed`); node names QEMU generates for backing files (`#block151`) are
 * not such ids, so ids are never built from node names.
 */
export function qmpJobId(kind: string): string {
  const id = `${kind}-${randomBytes(4).toString('hex')}`;
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(id)) throw new Error(`not a valid QEMU job id: ${id}`);
  return id;
}

/**
 * Merges `top` into `base` live. When `top` is the active layer the job stops in `ready` and needs
 * `job-complete`, after which the device writes to `base`; otherwise QEMU re-points top's child at base.
 */
export async function commitLive(
  qmp: QmpClient,
  rootNode: string,
  topNode: string,
  baseNode: string,
  timeoutMs = 120_000,
): Promise<void> {
  const jobId = qmpJobId('commit');
  const active = rootNode === topNode;
  const args: Record<string, unknown> = {
    'job-id': jobId,
    device: rootNode,
    'base-node': baseNode,
    'auto-dismiss': false,
  };
  if (!active) args['top-node'] = topNode;
  await qmp.runJob(jobId, () => qmp.execute('block-commit', args), {
    timeoutMs,
    onReady: async () => {
      await qmp.execute('job-complete', { id: jobId });
    },
  });
  // A node made by -blockdev or blockdev-add belongs to the monitor and outlives the commit, still
  // holding `base` as its backing: `base` then refuses the next external snapshot ("node is used as
  // backing hd of 'd0'", seen after delete-after-revert) and the merged file stays open. Drop it,
  // and the file node `-blockdev` named after it (`d<n>f`, see vm-process.ts); absent ones error.
  await qmp.execute('blockdev-del', { 'node-name': topNode }).catch(() => undefined);
  await qmp.execute('blockdev-del', { 'node-name': `${topNode}f` }).catch(() => undefined);
}
