/**
 * Block and migration operations on a running QEMU, over QMP: find a disk's top node, cut all disks in
 * one atomic transaction, merge with block-commit, and save / load the RAM state (background snapshot).
 * Exact messages: qemu-notes.md §2 and §4.
 */
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as img from './qemu-img.ts';
import { QmpTimeoutError, type QmpClient, type QmpEvent } from './qmp-client.ts';

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
 * and file is removed (QEMU itself leaves files behind, qemu-notes.md §2).
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
  const jobId = `commit-${topNode}`;
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

/** Enables the background-snapshot save (userfaultfd write-protect) and MIGRATION events. */
export async function prepareBackgroundSave(qmp: QmpClient, bandwidthBytes: number): Promise<void> {
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      { capability: 'background-snapshot', state: true },
      { capability: 'events', state: true },
    ],
  });
  // The default 128 MiB/s would make the save crawl (qemu-notes.md §4).
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': bandwidthBytes });
}

/** `exec:` URIs run through /bin/sh: quote the path. */
export function shellQuote(file: string): string {
  return `'${file.replaceAll("'", "'\\''")}'`;
}

export type MigrationEnd = 'completed' | 'failed' | 'cancelled';

/** Waits for the migration to end (MIGRATION events, `query-migrate` polling as a fallback). */
export async function waitMigration(
  qmp: QmpClient,
  sinceSeq: number,
  timeoutMs: number,
): Promise<MigrationEnd> {
  const deadline = Date.now() + timeoutMs;
  const isEnd = (e: QmpEvent): boolean =>
    e.event === 'MIGRATION' && ['completed', 'failed', 'cancelled'].includes(String(e.data.status));
  for (;;) {
    const seen = qmp.eventsSince(sinceSeq).find(isEnd);
    if (seen) return String(seen.data.status) as MigrationEnd;
    // A short timeout: a QEMU that stops answering here is wedged (see the agent's rollback).
    const answer = (await qmp.execute('query-migrate', undefined, 5000)) as { status?: string };
    if (answer.status === 'completed' || answer.status === 'failed' || answer.status === 'cancelled') {
      return answer.status;
    }
    const left = deadline - Date.now();
    if (left <= 0)
      throw new QmpTimeoutError(`migration did not end within ${timeoutMs} ms (${answer.status})`);
    await qmp.waitEvent(isEnd, Math.min(left, 200), qmp.mark()).catch((error: unknown) => {
      if (!(error instanceof QmpTimeoutError)) throw error;
    });
  }
}

/** Cancels a migration still running and waits for it to stop (QEMU waits for its writer first). */
export async function cancelMigration(qmp: QmpClient): Promise<void> {
  const answer = (await qmp.execute('query-migrate')) as { status?: string };
  if (!answer.status || ['completed', 'failed', 'cancelled', 'none'].includes(answer.status)) return;
  const since = qmp.mark();
  await qmp.execute('migrate_cancel', undefined, 10 * 60_000);
  await waitMigration(qmp, since, 10 * 60_000);
}

/** Pause between the first STOP and the next RESUME seen since `sinceSeq`, from QEMU's timestamps. */
export function pauseFromEvents(qmp: QmpClient, sinceSeq: number): number {
  const events = qmp.eventsSince(sinceSeq);
  const stop = events.find((e) => e.event === 'STOP');
  if (!stop) return 0;
  const resume = events.find((e) => e.event === 'RESUME' && e.seq > stop.seq);
  return resume ? round(resume.qemuMs - stop.qemuMs) : Number.NaN;
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
