/**
 * The host agent's HTTP face: `POST /v1/command` takes one JSON {@link AgentCommand} and answers its
 * JSON answer; `Authorization: Bearer <token>` is required (401 otherwise, checked before the body
 * is read). A command the protocol refuses (`agent-protocol/commands.ts`: names, UUIDs, bounded
 * integers) or whose paths lead outside the agent's pool (`path-confinement.ts`) gets 400 with
 * `{ error, field }` and touches nothing. `GET /v1/health` is open and tells only that the agent is
 * up and which accelerator it uses. Deadlines and the connection cap: `agent-server-limits.ts`.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  agentServerLimits,
  applyServerLimits,
  fastifyTimeoutOptions,
  nodeServerOptions,
  withoutIdleTimeout,
  type AgentServerLimits,
} from './agent-server-limits.ts';
import { QemuHostAgent, type QemuHostAgentOptions } from './qemu-host-agent.ts';

export interface AgentServerOptions extends Omit<QemuHostAgentOptions, 'stateDir' | 'poolDir'> {
  readonly port: number;
  readonly host?: string;
  readonly token: string;
  readonly stateDir: string;
  readonly poolDir: string;
  /** Serve https with this certificate and key (PEM); the server pins the certificate at addHost. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Deadlines and the connection cap (defaults: `DEFAULT_AGENT_SERVER_LIMITS`). */
  readonly limits?: Partial<AgentServerLimits>;
}

export interface RunningAgentServer {
  readonly url: string;
  readonly agent: QemuHostAgent;
  readonly app: FastifyInstance;
  /** Stops serving; QEMU processes keep running (they belong to the host, not to this process). */
  close(): Promise<void>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startAgentServer(options: AgentServerOptions): Promise<RunningAgentServer> {
  if (!options.token) throw new Error('the agent needs a token');
  const limits = agentServerLimits(options.limits);
  const agent = new QemuHostAgent(options);
  await agent.init();
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    ...fastifyTimeoutOptions(limits),
    http: nodeServerOptions(limits),
    ...(options.tls !== undefined
      ? { https: { ...nodeServerOptions(limits), cert: options.tls.cert, key: options.tls.key } }
      : {}),
  });
  applyServerLimits(app.server, limits);

  app.get('/v1/health', async () => {
    const ping = await agent.execute({ kind: 'Ping' });
    return { status: 'ok', accel: ping.result ? ping.accel : undefined };
  });

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!tokenMatches(request.headers.authorization, options.token))
      return reply.code(401).send({ error: 'missing or wrong bearer token' });
  };

  app.post('/v1/command', { onRequest: authenticate }, async (request, reply) => {
    const admitted = await agent.admit(request.body);
    if (!admitted.ok) return reply.code(400).send({ error: admitted.error, field: admitted.field });
    return withoutIdleTimeout(request.raw.socket, limits, () => agent.execute(admitted.value));
  });

  const address = await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  return {
    url: address,
    agent,
    app,
    close: async () => {
      await app.close();
      await agent.close();
    },
  };
}
