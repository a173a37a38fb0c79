/**
 * Failures whose raw text must not reach tenants: QEMU and qemu-img messages from a host, transport
 * errors naming internal addresses, SQL errors. The raw text is logged under a fresh error id and
 * recorded as an ERROR event of the admin account (so `listEvents` shows it to admins only); the
 * caller is told a short summary that carries the id.
 */
import { randomUUID } from 'node:crypto';
import type { ManagerDeps } from './manager-deps.ts';
import { AccountStore } from '../store/account-store.ts';

export interface InternalFailure {
  /** What failed, in words fit for a tenant, e.g. "the host reported an error". */
  readonly summary: string;
  /** The raw text, for admins only. */
  readonly detail: string;
  /** The event type it is recorded under, e.g. VMSNAPSHOT.CREATE. */
  readonly eventType: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
}

export type FailureReporter = (failure: InternalFailure) => Promise<string>;

/** `summary (error id …; see the server log)`: the text a tenant sees. */
export function publicFailureText(summary: string, id: string): string {
  return `${summary} (error id ${id}; see the server log)`;
}

export function internalFailureReporter(
  deps: Pick<ManagerDeps, 'db' | 'events' | 'log'>,
  newId: () => string = randomUUID,
): FailureReporter {
  return async (f) => {
    const id = newId();
    deps.log.error(
      { errorId: id, err: f.detail, type: f.eventType, resourceId: f.resourceId },
      `internal failure: ${f.summary}`,
    );
    // Recording is best effort: the log line above already holds everything.
    await recordForAdmins(deps, f, id).catch((err: unknown) =>
      deps.log.warn({ err, errorId: id }, 'could not record the internal failure event'),
    );
    return publicFailureText(f.summary, id);
  };
}

async function recordForAdmins(
  deps: Pick<ManagerDeps, 'db' | 'events'>,
  f: InternalFailure,
  id: string,
): Promise<void> {
  const adminId = await new AccountStore(deps.db).firstAdminAccountId();
  if (adminId === undefined) return;
  await deps.events.record({
    accountId: adminId,
    userId: null,
    type: f.eventType,
    level: 'ERROR',
    state: 'Completed',
    description: `${f.summary} (error id ${id}): ${f.detail}`,
    ...(f.resourceType !== undefined ? { resourceType: f.resourceType } : {}),
    ...(f.resourceId !== undefined ? { resourceId: f.resourceId } : {}),
  });
}
