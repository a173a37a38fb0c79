/**
 * The CloudStack-compatible endpoint `/client/api` on fastify: GET and form POST, parameters merged
 * as CloudStack's servlet does, signed-request authentication, JSON or XML, and every failure as a
 * CloudStack error body whose HTTP status is its errorcode. Handlers never see HTTP.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiServices } from './api-services.ts';
import { ApiErrorCode, ServerApiError, describeError } from '../core/errors.ts';
import { authenticate, UnauthorizedError } from './authenticate.ts';
import { readArgs, type ApiCommand } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { registerConsole } from './console-assets.ts';
import { runSessionCommand } from './commands/session-commands.ts';
import { NO_HTTP, type HttpContext } from './http-context.ts';
import { cookieValue, SESSION_COOKIE } from './session-cookie.ts';
import {
  errorPayload,
  mergeParams,
  ParamReader,
  parseFormBody,
  parseQueryString,
  rejectControlCharacters,
  rejectUnsafeParamNames,
  responseFormatOf,
  serialize,
  type Params,
} from './protocol/index.ts';

export const CLOUDSTACK_VERSION = '4.20.0.0-vmsnap';

/**
 * Bounds on what one client may hold. Node's and fastify's defaults let a client that sends its
 * headers or body a byte at a time keep a connection (and its memory) forever, and accept any
 * number of connections.
 */
export interface ServerLimits {
  /** The whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** The headers must arrive within this (at most `requestTimeoutMs`). */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A connection with no traffic at all is closed after this. */
  readonly connectionTimeoutMs: number;
  /** Connections beyond this many are closed as they arrive. */
  readonly maxConnections: number;
  /** How often node looks for requests past their timeouts (its default is 30 s). */
  readonly timeoutCheckIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  connectionTimeoutMs: 60_000,
  maxConnections: 1024,
  timeoutCheckIntervalMs: 1_000,
};

export interface ServerOptions {
  readonly logger?: boolean;
  readonly limits?: Partial<ServerLimits>;
  /** The web console's built bundle (dist/console), served at `/`; no console when absent. */
  readonly consoleDir?: string;
}

const byLowerName = new Map<string, ApiCommand>(COMMANDS.map((c) => [c.name.toLowerCase(), c]));

export function findCommand(name: string): ApiCommand | undefined {
  return byLowerName.get(name.toLowerCase());
}

/** What a server is built from: the services, or anything holding them (the App). */
export type ServiceSource = ApiServices | { readonly apiServices: ApiServices };

function servicesOf(source: ServiceSource): ApiServices {
  return 'apiServices' in source ? source.apiServices : source;
}

export async function buildServer(
  source: ServiceSource,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const services = servicesOf(source);
  const limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  // Node refuses a header timeout longer than a (non-zero) request timeout.
  const headersTimeout =
    limits.requestTimeoutMs > 0
      ? Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs)
      : limits.headersTimeoutMs;
  const server = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 1024 * 1024,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    // Node checks headersTimeout <= requestTimeout when the server is created, before fastify
    // applies its own values: both are given here.
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    },
  });
  server.server.maxConnections = limits.maxConnections;
  // Bodies are parsed by CloudStack's rules (first value wins), so keep them raw here.
  server.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_req, body, done) => done(null, body),
  );
  server.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const handle = async (rawUrl: string, body: unknown, http: HttpContext): Promise<DispatchResult> => {
    const q = rawUrl.indexOf('?');
    const query = parseQueryString(q === -1 ? '' : rawUrl.slice(q + 1));
    const params = mergeParams(query, typeof body === 'string' && body !== '' ? parseFormBody(body) : {});
    return dispatch(services, params, http);
  };

  const route = async (req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const res = await handle(req.url, req.body, httpContextOf(req));
    if (res.cookies !== undefined && res.cookies.length > 0) reply.header('set-cookie', [...res.cookies]);
    return reply.status(res.status).header('content-type', res.type).send(res.body);
  };
  server.get('/client/api', route);
  server.post('/client/api', route);
  if (options.consoleDir !== undefined) registerConsole(server, options.consoleDir);
  // A load balancer's check: 503 when this server cannot reach the database (it could take no request).
  server.get('/health', async (_req, reply) => {
    const database = await services.health();
    const body = {
      status: database.reachable ? 'ok' : 'unavailable',
      database,
      jobsRunning: services.jobs.activeCount,
    };
    return reply.status(database.reachable ? 200 : 503).send(body);
  });
  return server;
}

/** What the request says besides its parameters: method, session cookie, address, TLS. */
function httpContextOf(req: import('fastify').FastifyRequest): HttpContext {
  const forwarded = req.headers['x-forwarded-proto'];
  return {
    method: req.method,
    sessionId: cookieValue(req.headers.cookie, SESSION_COOKIE),
    clientAddress: req.ip,
    // Only the cookies' Secure flag depends on it: a client lying here can only harden them.
    secure: req.protocol === 'https' || forwarded === 'https',
  };
}

export interface DispatchResult {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  /** Set-Cookie values (login, logout). */
  readonly cookies?: readonly string[];
}

/** One API request, from its merged parameters to the serialized response. */
export async function dispatch(
  source: ServiceSource,
  params: Params,
  http: HttpContext = NO_HTTP,
): Promise<DispatchResult> {
  const services = servicesOf(source);
  const commandName = commandParam(params);
  const format = responseFormatOf(params);
  const command = findCommand(commandName);
  const responseCommand = command?.name ?? (commandName === '' ? 'error' : commandName);
  try {
    rejectUnsafeParamNames(params);
    // login and logout authenticate by themselves, as CloudStack's API authenticators.
    const session =
      command === undefined ? undefined : await runSessionCommand(command, { services, params, http });
    if (session !== undefined) {
      const out = serialize(responseCommand, session.payload, format, CLOUDSTACK_VERSION);
      return { status: 200, type: out.contentType, body: out.body, cookies: session.cookies };
    }
    const caller = await authenticate(services, params, command, commandName, new Date(), http.sessionId);
    if (command === undefined)
      throw new ServerApiError(ApiErrorCode.UNSUPPORTED_ACTION_ERROR, `Unknown API command: ${commandName}`);
    rejectControlCharacters(params);
    const reader = new ParamReader(command.name, params);
    const args = readArgs(command.params, reader);
    const payload = await command.handler({ services, caller, args, reader });
    const out = serialize(responseCommand, payload, format, CLOUDSTACK_VERSION);
    return { status: 200, type: out.contentType, body: out.body };
  } catch (err) {
    const d = describeError(err);
    // The caller gets only the id; the raw text (SQL, QEMU ...) goes to the log under it.
    if (d.internal !== undefined) {
      services.log.error({ err, errorId: d.internal.id, command: commandName }, 'API command failed');
    }
    const cs = err instanceof UnauthorizedError ? undefined : d.csCode;
    const out = serialize(responseCommand, errorPayload(d.code, d.text, cs), format, CLOUDSTACK_VERSION);
    return { status: d.code, type: out.contentType, body: out.body };
  }
}

function commandParam(params: Params): string {
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === 'command') return v;
  return '';
}
