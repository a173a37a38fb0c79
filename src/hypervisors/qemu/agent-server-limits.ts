/**
 * # How long the agent's HTTP server waits for a client, and for how many
 *
 * Node and Fastify leave `requestTimeout` at 0 by default: a client trickling a body one byte at a
 * time holds its connection forever, and a thousand of them hold the agent. Here every phase of a
 * connection has a deadline:
 * - nothing or a slow header block: `headersTimeoutMs` (Node answers 408 and closes);
 * - a slow body: `requestTimeoutMs` for the whole request, headers included;
 * - idle between two requests on a kept-alive connection: `keepAliveTimeoutMs`;
 * - a socket with nothing moving (a client that does not read its answer): `idleTimeoutMs`, paused
 *   while a command runs (a memory snapshot of a large VM sends nothing for minutes; the caller's
 *   own timeout bounds that, and every step of the command has its own);
 * - at most `maxConnections` open at once; Node drops the ones past it.
 * Node checks the header and request deadlines every `checkIntervalMs` (30 s in Node; 1 s here).
 */
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

export interface AgentServerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly checkIntervalMs: number;
}

export const DEFAULT_AGENT_SERVER_LIMITS: AgentServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxConnections: 128,
  checkIntervalMs: 1_000,
};

/** The defaults with `overrides` applied; headers can never get longer than the whole request. */
export function agentServerLimits(overrides: Partial<AgentServerLimits> = {}): AgentServerLimits {
  const limits = { ...DEFAULT_AGENT_SERVER_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits))
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`agent server limit ${name} must be > 0`);
  return { ...limits, headersTimeoutMs: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) };
}

/**
 * What node:http(s) must get when the server is built (the check interval cannot be changed
 * later): pass it as Fastify's `http` option, or merged into its `https` option with TLS.
 */
export function nodeServerOptions(limits: AgentServerLimits): ServerOptions {
  return {
    connectionsCheckingInterval: limits.checkIntervalMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
}

/** Fastify's names for the same deadlines (it sets them on the server it builds). */
export function fastifyTimeoutOptions(limits: AgentServerLimits) {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
  };
}

/** Settings Fastify has no option for: applied to its server before it listens. */
export function applyServerLimits(server: Server, limits: AgentServerLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.maxConnections = limits.maxConnections;
}

/** Runs a command with the socket's idle deadline paused; restored before the answer is written. */
export async function withoutIdleTimeout<T>(
  socket: Socket,
  limits: AgentServerLimits,
  run: () => Promise<T>,
): Promise<T> {
  socket.setTimeout(0);
  try {
    return await run();
  } finally {
    socket.setTimeout(limits.idleTimeoutMs);
  }
}
