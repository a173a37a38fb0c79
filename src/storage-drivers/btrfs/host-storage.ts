/**
 * The btrfs driver's way to its pools: `Storage*` commands to the pool's host agent through the
 * manager's {@link AgentGateway}. A refused command becomes an Error with the host's answer.
 */
import type { AgentCommand, AgentGateway, AnswerFor } from '../../core/plugin-api.ts';

export type Success<C extends AgentCommand> = Extract<AnswerFor<C>, { result: true }>;

export async function runOnHost<C extends AgentCommand>(
  agents: AgentGateway,
  hostId: string,
  command: C,
): Promise<Success<C>> {
  const answer = await agents.send(hostId, command);
  if (!answer.result) throw new Error(`${command.kind} on host ${hostId}: ${answer.details}`);
  return answer;
}
