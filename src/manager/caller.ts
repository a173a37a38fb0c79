/** Who is calling: every manager operation checks ownership against it. */
import { PermissionDeniedError } from '../core/errors.ts';

export interface Caller {
  readonly accountId: string;
  readonly accountName: string;
  readonly userId: string;
  readonly isAdmin: boolean;
}

/** CloudStack's checkAccess: admins see all; a user acts only on their own account's resources. */
export function checkAccess(caller: Caller, ownerAccountId: string, resource: string): void {
  if (caller.isAdmin || caller.accountId === ownerAccountId) return;
  throw new PermissionDeniedError(
    `Caller ${caller.accountName} does not have permission to operate with resource ${resource}`,
  );
}
