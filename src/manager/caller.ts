/**
 * Who is calling: every manager operation checks ownership against it, through `loadOwned` in
 * ./access.ts (which answers a foreign object exactly like a missing one).
 */
export interface Caller {
  readonly accountId: string;
  readonly accountName: string;
  readonly userId: string;
  readonly isAdmin: boolean;
}
