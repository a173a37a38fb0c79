/**
 * # How an agent command is refused, in every hypervisor agent
 *
 * A handler that refuses a request (no such VM, a snapshot name taken, a guest that cannot
 * freeze) calls {@link fail}, from however deep in its helpers: the agent's `execute` catches the
 * {@link CommandFailure} and answers `result: false` with its text, without logging it (an expected
 * refusal). Any other error thrown by a handler is a fault of the agent: the QEMU agent answers it
 * the same way but logs it; the simulator lets it through (execute() rejects, as a broken agent).
 */
import type { AnswerFailure } from '../core/plugin-api.ts';

/** An expected refusal: answered, not logged. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
}

export function fail(details: string): never {
  throw new CommandFailure(details);
}

/** The answer for a refusal; anything else is rethrown for the agent to deal with. */
export function refusalAnswer(err: unknown): AnswerFailure {
  if (err instanceof CommandFailure) return { result: false, details: err.message };
  throw err;
}
