/**
 * Saving and loading a VM's RAM through QEMU's migration stream, over QMP: the background-snapshot
 * save (userfaultfd write-protect: the guest keeps running while its RAM as of the start is
 * written), waiting for a migration to end, and cancelling one.
 *
 * QEMU sends MIGRATION events only once the `events` capability is on; without it a waiter would
 * hang, so `query-migrate` is polled as well.
 */
import { QmpTimeoutError, type QmpClient, type QmpEvent } from './qmp-client.ts';

/** Enables the background-snapshot save (userfaultfd write-protect) and MIGRATION events. */
export async function prepareBackgroundSave(qmp: QmpClient, bandwidthBytes: number): Promise<void> {
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      { capability: 'background-snapshot', state: true },
      { capability: 'events', state: true },
    ],
  });
  // QEMU's default max-bandwidth is 128 MiB/s: a 1 GiB guest would take 8 s instead of about 0.6 s.
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
