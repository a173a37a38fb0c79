/**
 * login and logout (issue 14), CloudStack's authentication APIs (DefaultLoginAPIAuthenticatorCmd,
 * DefaultLogoutAPIAuthenticatorCmd). As in CloudStack's ApiServlet they are run before, and instead
 * of, request authentication: login needs no API key, and both set cookies, which ordinary commands
 * never do. `dispatch` calls `runSessionCommand`; the declarations below give listApis and the API
 * reference their parameters, and their handlers are never reached.
 */
import { ApiErrorCode, ServerApiError } from '../../core/errors.ts';
import type { OpenedSession } from '../../manager/session-manager.ts';
import { ROOT_DOMAIN_ID } from '../../store/account-store.ts';
import type { ApiServices } from '../api-services.ts';
import { UnauthorizedError } from '../authenticate.ts';
import { defineCommand, param, readArgs, required, type ApiCommand, type CommandResult } from '../command.ts';
import type { HttpContext } from '../http-context.ts';
import { ParamReader, rejectControlCharacters, type Params } from '../protocol/index.ts';
import { clearedSessionCookies, sessionCookies } from '../session-cookie.ts';

function notDirectly(): never {
  throw new ServerApiError(
    ApiErrorCode.METHOD_NOT_ALLOWED,
    'This is an authentication api, cannot be used directly',
  );
}

const loginParams = {
  username: required(param.string('Username')),
  password: required(param.string('Password, in clear (send it over TLS)')),
  domain: param.string(
    'Path of the domain that the user belongs to; if no domain is passed in, the ROOT (/) domain is assumed (vmsnap has only ROOT: `/` or `ROOT`)',
  ),
  domainId: param.string(
    'The id of the domain that the user belongs to; if both domain and domainId are passed in, domainId takes precedence',
  ),
} as const;

export const login = defineCommand({
  name: 'login',
  description:
    'Logs a user in with a username and password (HTTP POST only; no API key). Sets the JSESSIONID and sessionkey cookies and returns the session key: every later request of the session must carry the cookie and the `sessionkey` parameter, until logout or session.timeout seconds without a request',
  params: loginParams,
  handler: notDirectly,
});

export const logout = defineCommand({
  name: 'logout',
  description:
    'Logs out the session the request belongs to (its cookie and `sessionkey` parameter); the session key is refused from then on',
  params: { sessionkey: required(param.string('The session key returned by login')) },
  handler: notDirectly,
});

/** What a session command answers: the payload and the Set-Cookie values to send with it. */
export interface SessionCommandOutcome {
  readonly payload: CommandResult;
  readonly cookies: readonly string[];
}

interface SessionCommandRequest {
  readonly services: ApiServices;
  readonly params: Params;
  readonly http: HttpContext;
}

/** Runs login or logout; undefined for any other command (it goes through authentication). */
export async function runSessionCommand(
  command: ApiCommand,
  req: SessionCommandRequest,
): Promise<SessionCommandOutcome | undefined> {
  if (command !== login && command !== logout) return undefined;
  rejectControlCharacters(req.params);
  return command === login ? runLogin(req) : runLogout(req);
}

async function runLogin({ services, params, http }: SessionCommandRequest): Promise<SessionCommandOutcome> {
  // A password in a query string ends up in access logs and browser history.
  if (http.method !== 'POST')
    throw new ServerApiError(
      ApiErrorCode.METHOD_NOT_ALLOWED,
      'Please use HTTP POST to authenticate using this API',
    );
  const args = readArgs(loginParams, new ParamReader(login.name, params));
  const domainPath = rootDomainPath(args.domain, args.domainId);
  const opened = await services.sessions.login({
    username: args.username,
    password: args.password,
    domainPath,
    clientAddress: http.clientAddress,
  });
  return {
    payload: loginResponse(opened),
    cookies: sessionCookies(opened.sessionId, opened.sessionKey, http.secure),
  };
}

/**
 * The domain a login names, as CloudStack reads it: domainId first, else the path, made to start
 * and end with `/`. vmsnap has one domain, ROOT, whose path is `/`; `ROOT` is accepted for it too.
 */
function rootDomainPath(domain: string | undefined, domainId: string | undefined): string {
  if (domainId !== undefined && domainId !== '') {
    if (domainId !== ROOT_DOMAIN_ID)
      throw new ServerApiError(
        ApiErrorCode.UNAUTHORIZED,
        'Invalid domain id entered, please enter a valid one',
      );
    return '/';
  }
  if (domain === undefined || domain === '') return '/';
  let path = domain.endsWith('/') ? domain : `${domain}/`;
  if (!path.startsWith('/')) path = `/${path}`;
  if (path === '/' || path.toUpperCase() === '/ROOT/') return '/';
  throw new ServerApiError(ApiErrorCode.ACCOUNT_ERROR, `Unable to find the domain from the path ${path}`);
}

/** CloudStack's LoginCmdResponse: every value a string, as CloudStack serialises it. */
function loginResponse(s: OpenedSession): CommandResult {
  return {
    username: s.user.username,
    userid: s.user.id,
    domainid: s.account.domain_id,
    timeout: String(s.timeoutSeconds),
    account: s.account.name,
    firstname: s.user.firstname ?? s.user.username,
    lastname: s.user.lastname ?? '',
    // Account.Type ordinal: 0 NORMAL, 1 ADMIN.
    type: s.account.role === 'admin' ? '1' : '0',
    registered: 'false',
    is2faenabled: 'false',
    sessionkey: s.sessionKey,
  };
}

async function runLogout({ services, params, http }: SessionCommandRequest): Promise<SessionCommandOutcome> {
  const key = new ParamReader(logout.name, params).raw('sessionkey');
  const ended =
    http.sessionId !== undefined &&
    key !== undefined &&
    (await services.sessions.logout(http.sessionId, key));
  if (!ended) throw new UnauthorizedError('logout without a valid session');
  return { payload: { description: 'success' }, cookies: clearedSessionCookies(http.secure) };
}
