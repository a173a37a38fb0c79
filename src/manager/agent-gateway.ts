/**
 * Reaches host agents with timeouts. The core owns this gateway; which agent serves a host (the
 * simulator, an HTTP client to a QEMU host agent) is decided by a resolver the composition root gives.
 */
import type { AgentCommand, AgentGateway, AnswerFor, HypervisorAgent } from '../core/plugin-api.ts';
import { AgentTimeoutError } from '../core/errors.ts';

export type AgentResolver = (hostId: string) => Promise<HypervisorAgent>;

export class TimedAgentGateway implements AgentGateway {
  constructor(
    private readonly resolve: AgentResolver,
    private readonly defaultTimeoutMs: () => number,
  ) {}

  async send<C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>> {
    // A turn of the event loop before each agent call keeps API requests flowing between job steps.
    await new Promise<void>((r) => setImmediate(r));
    const agent = await this.resolve(hostId);
    const ms = options?.timeoutMs ?? this.defaultTimeoutMs();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentTimeoutError(hostId, command.kind, ms)), ms);
    });
    try {
      return await Promise.race([agent.execute(command), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
