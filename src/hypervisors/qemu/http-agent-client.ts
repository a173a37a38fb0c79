/**
 * The management server's side of the agent protocol: a {@link HypervisorAgent} that posts each
 * command to a host agent over HTTP. A thrown error means the host is unreachable, timed out or
 * refused the token; a failed command is an answer with `result: false`.
 */
import type { AgentCommand, AnswerFor, HypervisorAgent } from '../../core/plugin-api.ts';

export interface HttpAgentClientOptions {
  /** Base URL of the agent, e.g. `http://10.0.0.5:8250`. */
  readonly url: string;
  readonly token: string;
  /** Per-command timeout (a memory snapshot of a large VM takes a while). */
  readonly timeoutMs?: number;
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

  constructor(private readonly options: HttpAgentClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

  async execute<C extends AgentCommand>(command: C, timeoutMs?: number): Promise<AnswerFor<C>> {
    const response = await fetch(`${this.url}/v1/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(command),
      signal: AbortSignal.timeout(timeoutMs ?? this.options.timeoutMs ?? 120_000),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new AgentHttpError(
        response.status,
        `agent at ${this.url} answered HTTP ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    const answer = JSON.parse(text) as unknown;
    if (
      typeof answer !== 'object' ||
      answer === null ||
      typeof (answer as { result?: unknown }).result !== 'boolean'
    ) {
      throw new AgentHttpError(response.status, `agent at ${this.url} sent a malformed answer`);
    }
    return answer as AnswerFor<C>;
  }

  /** True when `GET /v1/health` answers. */
  async healthy(timeoutMs = 3000): Promise<boolean> {
    try {
      const response = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(timeoutMs) });
      return response.ok;
    } catch {
      return false;
    }
  }
}
