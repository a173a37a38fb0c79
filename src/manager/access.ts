/**
 * Access to a caller's objects, checked as they are loaded. An object the caller may not see is
 * reported exactly like one that does not exist (same error class, code and text, with the id the
 * caller gave), and this check comes before any other: a check run earlier (a name clash, a power
 * state, an active task) would tell another tenant something about an object that is not theirs.
 *
 * CloudStack answers a foreign object with 531 PermissionDenied; vmsnap does not, because that 531
 * against a 431 for a free id is itself an oracle for which ids exist.
 */
import type { CloudError } from '../core/errors.ts';
import type { Caller } from './caller.ts';

/** Anything owned by an account. */
export interface Owned {
  readonly accountId: string;
}

/** Admins see everything; a user sees only its own account's objects. */
export function mayAccess(caller: Caller, ownerAccountId: string): boolean {
  return caller.isAdmin || caller.accountId === ownerAccountId;
}

/**
 * Loads an object and checks the caller may see it, in one step, so no check can run between the
 * two. `notFound` builds the error for a missing object; a foreign one gets the very same error.
 */
export async function loadOwned<T extends Owned>(
  caller: Caller,
  load: () => Promise<T | undefined>,
  notFound: () => CloudError,
): Promise<T> {
  const found = await load();
  if (found === undefined || !mayAccess(caller, found.accountId)) throw notFound();
  return found;
}
