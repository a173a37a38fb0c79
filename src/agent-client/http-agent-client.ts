/**
 * The management server's side of the agent protocol: a {@link HypervisorAgent} that posts each
 * command to a host agent over HTTP or HTTPS (see agent-transport.ts: pinned certificate, capped
 * answers). A thrown error means the host is unreachable, timed out, refused the token, presented
 * the wrong certificate or answered something that is not an answer; a failed command is an answer
 * with `result: false`. Errors never quote what the agent sent.
 */
import type http from 'node:http';
import type { AgentCommand, AnswerFor, HypervisorAgent } from '../core/plugin-api.ts';
import { agentFor, agentRequest, type AgentHttpRequest, type AgentHttpResponse } from './agent-transport.ts';
import { parseAgentAnswer } from '../hypervisors/qemu/agent-protocol/answers.ts';

/** Caps on what the server reads from an agent: a command's answer, and the health probe's. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
export const MAX_HEALTH_BYTES = 64 * 1024;

export interface HttpAgentClientOptions {
  /** Base URL of the agent, e.g. `http://10.0.0.5:8250` or `https://10.0.0.5:8250`. */
  readonly url: string;
  readonly token: string;
  /** Per-command timeout (a memory snapshot of a large VM takes a while). */
  readonly timeoutMs?: number;
  /**
   * SHA-256 fingerprint (canonical form, see core/cert-fingerprint.ts) the agent's certificate must
   * have. Set: https only, every connection checked before anything is sent.
   */
  readonly tlsFingerprint?: string | null;
  /** Answers larger than this are refused (default {@link MAX_ANSWER_BYTES}). */
  readonly maxAnswerBytes?: number;
}

export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AgentHttpError';
  }
}

export class HttpAgentClient implements HypervisorAgent {
  private readonly url: string;
  private readonly base: URL;
  private readonly transport: http.Agent;

  constructor(private readonly options: HttpAgentClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.base = new URL(`${this.url}/`);
    // Throws for other schemes, and for a pinned host whose URL is not https.
    this.transport = agentFor(this.base, options.tlsFingerprint ?? null);
  }

  async execute<C extends AgentCommand>(command: C, timeoutMs?: number): Promise<AnswerFor<C>> {
    const response = await this.request({
      method: 'POST',
      url: new URL('v1/command', this.base),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(command),
      maxBytes: this.options.maxAnswerBytes ?? MAX_ANSWER_BYTES,
      timeoutMs: timeoutMs ?? this.options.timeoutMs ?? 120_000,
    });
    // The status and the URL only: the body of whatever answered is not ours to repeat.
    if (response.status < 200 || response.status > 299) {
      const field = response.status === 400 ? refusedField(response.body) : undefined;
      const which = field !== undefined ? ` (refused field ${field})` : '';
      throw new AgentHttpError(
        response.status,
        `agent at ${this.url} answered HTTP ${response.status}${which}`,
      );
    }
    let answer: unknown;
    try {
      answer = JSON.parse(response.body);
    } catch {
      // JSON.parse's message quotes the text it choked on.
      throw new AgentHttpError(response.status, `agent at ${this.url} sent an answer that is not JSON`);
    }
    // The protocol's answer schema (agent-protocol/answers.ts): the refusal names the field only.
    const parsed = parseAgentAnswer(command.kind, answer);
    if (!parsed.ok)
      throw new AgentHttpError(
        response.status,
        `agent at ${this.url} sent a malformed answer (${parsed.error})`,
      );
    return parsed.value;
  }

  /** True when `GET /v1/health` answers (no token sent). */
  async healthy(timeoutMs = 3000): Promise<boolean> {
    try {
      const response = await this.request({
        method: 'GET',
        url: new URL('v1/health', this.base),
        headers: {},
        maxBytes: MAX_HEALTH_BYTES,
        timeoutMs,
      });
      return response.status >= 200 && response.status <= 299;
    } catch {
      return false;
    }
  }

  private request(req: AgentHttpRequest): Promise<AgentHttpResponse> {
    return agentRequest(this.transport, req, this.url);
  }
}

/** A field path in a safe alphabet, the most a refusal may leak of whatever answered. */
const FIELD_PATH = /^[A-Za-z0-9_.[\]]{1,128}$/;

/**
 * The field a real agent names when it refuses a command (400 `{ error, field }`): the one part of
 * a refusal worth repeating, taken only when it is a short field path, never the free text.
 */
function refusedField(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { field?: unknown };
    return typeof parsed.field === 'string' && FIELD_PATH.test(parsed.field) ? parsed.field : undefined;
  } catch {
    return undefined;
  }
}
