/**
 * CloudStack's ApiServer.verifyRequest, with its order fixed so that nothing is said about a key
 * before the request is proven to come from its owner: the command must exist, an apikey and a
 * signature must be present, an `expires` must be current and not too far ahead, the key must map
 * to a user whose secret verifies the HMAC-SHA1 signature, the user must be enabled, and only then
 * may the command be refused as unavailable to that user (432, which names the user). Every other
 * failure is the same 401, so a caller learns nothing about why, nor whether a key exists.
 * (CloudStack answers 432 before checking the signature, which tells anyone holding just an API
 * key the user's id and whether it is an admin.)
 *
 * A request without a signature may instead belong to a console session (issue 14): it must carry
 * the session cookie AND the session's key as the `sessionkey` parameter, as CloudStack's
 * HttpUtils.validateSessionKey demands. A cross-site request forged by another page carries the
 * cookie (the browser adds it) but cannot know the key, so it gets the same 401.
 */
import { ApiErrorCode, ServerApiError } from '../core/errors.ts';
import type { Caller } from '../manager/caller.ts';
import type { UserWithAccount } from '../store/account-store.ts';
import type { ApiServices } from './api-services.ts';
import type { ApiCommand } from './command.ts';
import { checkExpiry, DEFAULT_MAX_EXPIRES_AHEAD_MS, verifySignature, type Params } from './protocol/index.ts';

export const UNAUTHORIZED_TEXT = 'unable to verify user credentials and/or request signature';

/** The setting that bounds how far ahead a signed request's `expires` may be, in seconds. */
export const EXPIRES_MAX_SETTING = 'api.signature.expires.max';

export class UnauthorizedError extends ServerApiError {
  constructor(readonly why: string) {
    super(ApiErrorCode.UNAUTHORIZED, UNAUTHORIZED_TEXT);
  }
}

function param(params: Params, name: string): string | undefined {
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === name) return v;
  return undefined;
}

// An unknown key is checked against this secret too, so both cases do the same HMAC work.
const NO_SECRET = 'vmsnap: no such api key';

export async function authenticate(
  services: ApiServices,
  params: Params,
  command: ApiCommand | undefined,
  commandName: string,
  now = new Date(),
  sessionId?: string,
): Promise<Caller> {
  if (command === undefined) throw new UnauthorizedError(`unknown command ${commandName}`);
  const apiKey = param(params, 'apikey');
  const signature = param(params, 'signature');
  const signed = apiKey !== undefined && signature !== undefined;
  const found = signed
    ? await signedUser(services, params, apiKey, now)
    : await sessionUser(services, params, sessionId);
  const { user, account } = found;
  if (user.state !== 'enabled' || account.state !== 'enabled') throw new UnauthorizedError('disabled user');
  const isAdmin = account.role === 'admin';
  if (command.admin === true && !isAdmin) {
    throw new ServerApiError(
      ApiErrorCode.UNSUPPORTED_ACTION_ERROR,
      `The given command:${commandName} does not exist or it is not available for user with id:${user.id}`,
    );
  }
  return { accountId: account.id, accountName: account.name, userId: user.id, isAdmin };
}

/** The owner of the API key, once the request's expiry and signature check out. */
async function signedUser(
  services: ApiServices,
  params: Params,
  apiKey: string,
  now: Date,
): Promise<UserWithAccount> {
  const expiry = checkExpiry(params, now, maxExpiresAheadMs(services));
  if (!expiry.ok) throw new UnauthorizedError(expiry.detail);
  const found = await credentialsOf(services, apiKey);
  const secret = found?.user.secret_key ?? null;
  const signed = verifySignature(params, secret ?? NO_SECRET);
  if (found === undefined || secret === null || !signed) throw new UnauthorizedError('bad key or signature');
  return found;
}

/** The user of the session whose cookie came with the request, when `sessionkey` is its key. */
async function sessionUser(
  services: ApiServices,
  params: Params,
  sessionId: string | undefined,
): Promise<UserWithAccount> {
  if (sessionId === undefined) throw new UnauthorizedError('missing apikey or signature');
  const key = param(params, 'sessionkey');
  if (key === undefined) throw new UnauthorizedError('session cookie without sessionkey');
  const found = await services.sessions.resolve(sessionId, key);
  if (found === undefined) throw new UnauthorizedError('unknown or expired session, or wrong sessionkey');
  return found;
}

/** `api.signature.expires.max` in ms; a value that is not a non-negative number means the default. */
function maxExpiresAheadMs(services: ApiServices): number {
  const seconds = services.settings.getNumber(EXPIRES_MAX_SETTING);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_MAX_EXPIRES_AHEAD_MS;
}

/**
 * Users by API key, remembered for a few seconds: every request needs them, and they change only
 * through registerUserKeys (which calls `forgetCredentials`) or an account being disabled (seen
 * within the TTL). Unknown keys are not remembered, so a new account works at once.
 */
const CREDENTIAL_TTL_MS = 5_000;
const credentialCache = new WeakMap<ApiServices, Map<string, { found: UserWithAccount; at: number }>>();

async function credentialsOf(services: ApiServices, apiKey: string): Promise<UserWithAccount | undefined> {
  let cache = credentialCache.get(services);
  if (cache === undefined) {
    cache = new Map();
    credentialCache.set(services, cache);
  }
  const hit = cache.get(apiKey);
  if (hit !== undefined && Date.now() - hit.at < CREDENTIAL_TTL_MS) return hit.found;
  const found = await services.accounts.credentialsFor(apiKey);
  if (found === undefined) cache.delete(apiKey);
  else cache.set(apiKey, { found, at: Date.now() });
  return found;
}

export function forgetCredentials(services: ApiServices): void {
  credentialCache.delete(services);
}
