/**
 * CloudStack's ApiServer.verifyRequest, step for step: the command must exist, an apikey and a
 * signature must be present, a `signatureVersion=3` request must not be expired, the key must map to
 * an enabled user, the command must be available to that user (432 otherwise), and the HMAC-SHA1
 * signature must match. Every other failure is the same 401, so a caller learns nothing about why.
 */
import type { App } from '../app/app.ts';
import { ApiErrorCode, ServerApiError } from '../core/errors.ts';
import type { Caller } from '../manager/caller.ts';
import { AccountStore, type UserWithAccount } from '../store/account-store.ts';
import type { ApiCommand } from './command.ts';
import { checkExpiry, verifySignature, type Params } from './protocol/index.ts';

export const UNAUTHORIZED_TEXT = 'unable to verify user credentials and/or request signature';

export class UnauthorizedError extends ServerApiError {
  constructor(readonly why: string) {
    super(ApiErrorCode.UNAUTHORIZED, UNAUTHORIZED_TEXT);
  }
}

function param(params: Params, name: string): string | undefined {
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === name) return v;
  return undefined;
}

export async function authenticate(
  app: App,
  params: Params,
  command: ApiCommand | undefined,
  commandName: string,
  now = new Date(),
): Promise<Caller> {
  if (command === undefined) throw new UnauthorizedError(`unknown command ${commandName}`);
  const apiKey = param(params, 'apikey');
  const signature = param(params, 'signature');
  if (apiKey === undefined || signature === undefined)
    throw new UnauthorizedError('missing apikey or signature');
  const expiry = checkExpiry(params, now);
  if (!expiry.ok) throw new UnauthorizedError(expiry.detail);
  const found = await credentialsOf(app, apiKey);
  if (found === undefined) throw new UnauthorizedError('apikey does not map to a user');
  const { user, account } = found;
  if (user.state !== 'enabled' || account.state !== 'enabled') throw new UnauthorizedError('disabled user');
  const isAdmin = account.role === 'admin';
  if (command.admin === true && !isAdmin) {
    throw new ServerApiError(
      ApiErrorCode.UNSUPPORTED_ACTION_ERROR,
      `The given command:${commandName} does not exist or it is not available for user with id:${user.id}`,
    );
  }
  if (user.secret_key === null || !verifySignature(params, user.secret_key)) {
    throw new UnauthorizedError('signature mismatch');
  }
  return { accountId: account.id, accountName: account.name, userId: user.id, isAdmin };
}

/**
 * Users by API key, remembered for a few seconds: every request needs them, and they change only
 * through registerUserKeys (which calls `forgetCredentials`) or an account being disabled (seen
 * within the TTL). Unknown keys are not remembered, so a new account works at once.
 */
const CREDENTIAL_TTL_MS = 5_000;
const credentialCache = new WeakMap<App, Map<string, { found: UserWithAccount; at: number }>>();

async function credentialsOf(app: App, apiKey: string): Promise<UserWithAccount | undefined> {
  let cache = credentialCache.get(app);
  if (cache === undefined) {
    cache = new Map();
    credentialCache.set(app, cache);
  }
  const hit = cache.get(apiKey);
  if (hit !== undefined && Date.now() - hit.at < CREDENTIAL_TTL_MS) return hit.found;
  const found = await new AccountStore(app.deps.db).findByApiKey(apiKey);
  if (found === undefined) cache.delete(apiKey);
  else cache.set(apiKey, { found, at: Date.now() });
  return found;
}

export function forgetCredentials(app: App): void {
  credentialCache.delete(app);
}
