/**
 * The management server's side of the agent protocol: AgentCommands as JSON over HTTP to a host
 * agent (`vmsnap agent`), authenticated by the host's token. Timeouts are the gateway's business;
 * this client only turns transport failures into thrown errors (the agent "broke").
 */
import type { AgentCommand, AnswerFor, HypervisorAgent } from '../core/plugin-api.ts';

export interface HttpAgentClientOptions {
  readonly url: string;
  readonly token: string;
}

export class HttpAgentClient implements HypervisorAgent {
  constructor(private readonly options: HttpAgentClientOptions) {}

  async execute<C extends AgentCommand>(command: C): Promise<AnswerFor<C>> {
    const res = await fetch(new URL('/v1/command', this.options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(command),
    });
    const text = await res.text();
    if (res.status === 401) throw new Error(`agent at ${this.options.url} refused the host token`);
    if (!res.ok)
      throw new Error(`agent at ${this.options.url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as AnswerFor<C>;
  }
}
