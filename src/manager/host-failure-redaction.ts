/**
 * Keeps a host's raw failure texts away from tenants. A failed snapshot command answers with
 * whatever QEMU, qemu-img or the agent's own code said (paths in the pool, QMP error descs, process
 * stderr), and an unreachable agent fails with the transport's text (addresses, TLS details). For
 * the commands below, the gateway given to strategies replaces that text by a summary with an
 * error id; the raw text goes to the log and to an admin-only event (see internal-failure.ts).
 *
 * Not redacted: timeouts (our own message), and the guest agent commands (GuestPing, FreezeThaw),
 * whose texts come from the tenant's own guest and tell the tenant why quiescing failed.
 */
import type { AgentCommand, AgentCommandKind, AgentGateway, AnswerFor } from '../core/plugin-api.ts';
import { AgentTimeoutError } from './agent-gateway.ts';
import type { FailureReporter, InternalFailure } from './internal-failure.ts';

const REDACTED: ReadonlySet<AgentCommandKind> = new Set<AgentCommandKind>([
  'CreateVMSnapshot',
  'RevertToVMSnapshot',
  'DeleteVMSnapshot',
  'CheckVMSnapshot',
  'StartVM',
  'StopVM',
  'CreateVM',
  'DestroyVM',
]);

const EVENT_TYPE: Partial<Record<AgentCommandKind, string>> = {
  CreateVMSnapshot: 'VMSNAPSHOT.CREATE',
  RevertToVMSnapshot: 'VMSNAPSHOT.REVERTTO',
  DeleteVMSnapshot: 'VMSNAPSHOT.DELETE',
};

/** An agent that could not be reached, named as CloudStack names it; the text is the summary. */
export class HostUnreachableError extends Error {
  override readonly name = 'AgentUnavailableException';
}

export function redactHostFailures(inner: AgentGateway, report: FailureReporter): AgentGateway {
  return {
    async send<C extends AgentCommand>(
      hostId: string,
      command: C,
      options?: { timeoutMs?: number },
    ): Promise<AnswerFor<C>> {
      if (!REDACTED.has(command.kind)) return inner.send(hostId, command, options);
      let answer: AnswerFor<C>;
      try {
        answer = await inner.send(hostId, command, options);
      } catch (err) {
        if (err instanceof AgentTimeoutError) throw err;
        const raw = err instanceof Error ? err.message : String(err);
        throw new HostUnreachableError(
          await report(failure(hostId, command, 'the host could not be reached', raw)),
        );
      }
      if (answer.result) return answer;
      const details = await report(failure(hostId, command, 'the host reported an error', answer.details));
      return { result: false, details };
    },
  };
}

function failure(hostId: string, command: AgentCommand, summary: string, raw: string): InternalFailure {
  const vmName = 'vmName' in command ? ` for ${String(command.vmName)}` : '';
  return {
    summary,
    detail: `${command.kind}${vmName} on host ${hostId}: ${raw}`,
    eventType: EVENT_TYPE[command.kind] ?? 'HOST.COMMAND',
    resourceType: 'Host',
    resourceId: hostId,
  };
}
