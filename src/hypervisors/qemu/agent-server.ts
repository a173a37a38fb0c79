/**
 * The host agent's HTTP face: `POST /v1/command` takes one JSON {@link AgentCommand} and answers its
 * JSON answer; `Authorization: Bearer <token>` is required (401 otherwise). `GET /v1/health` is open
 * and tells only that the agent is up and which accelerator it uses.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AgentCommand } from '../../core/plugin-api.ts';
import { AGENT_COMMAND_KINDS } from '../../core/plugin-api.ts';
import { QemuHostAgent, type QemuHostAgentOptions } from './qemu-host-agent.ts';

export interface AgentServerOptions extends Omit<QemuHostAgentOptions, 'stateDir' | 'poolDir'> {
  readonly port: number;
  readonly host?: string;
  readonly token: string;
  readonly stateDir: string;
  readonly poolDir: string;
}

export interface RunningAgentServer {
  readonly url: string;
  readonly agent: QemuHostAgent;
  readonly app: FastifyInstance;
  /** Stops serving; QEMU processes keep running (they belong to the host, not to this process). */
  close(): Promise<void>;
}

const COMMAND_KINDS: ReadonlySet<string> = new Set<string>(AGENT_COMMAND_KINDS);

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function isCommand(body: unknown): body is AgentCommand {
  if (typeof body !== 'object' || body === null) return false;
  const kind = (body as { kind?: unknown }).kind;
  return typeof kind === 'string' && COMMAND_KINDS.has(kind);
}

export async function startAgentServer(options: AgentServerOptions): Promise<RunningAgentServer> {
  if (!options.token) throw new Error('the agent needs a token');
  const agent = new QemuHostAgent(options);
  await agent.init();
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  app.get('/v1/health', async () => {
    const ping = await agent.execute({ kind: 'Ping' });
    return { status: 'ok', accel: ping.result ? ping.accel : undefined };
  });

  app.post('/v1/command', async (request, reply) => {
    if (!tokenMatches(request.headers.authorization, options.token)) {
      return reply.code(401).send({ error: 'missing or wrong bearer token' });
    }
    if (!isCommand(request.body)) {
      return reply.code(400).send({ error: 'body must be an agent command with a known kind' });
    }
    return agent.execute(request.body);
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
