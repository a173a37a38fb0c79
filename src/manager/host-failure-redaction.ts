/**
 * Keeps a host's raw failure texts away from tenants. A failed command answers with whatever QEMU,
 * qemu-img or the agent's own code said (paths in the pool, QMP error descs, process stderr), and
 * an unreachable agent fails with the transport's text (addresses, TLS details). The composition
 * root wraps the one agent gateway every manager and strategy uses (src/app/app.ts), so snapshot,
 * start, stop and deploy jobs see that text only as a summary with an error id, reported once; the
 * raw text goes to the log and to an admin-only event (see internal-failure.ts).
 *
 * Passed through as they are:
 *  - timeouts (our own message);
 *  - the guest agent commands (GuestPing, FreezeThaw), whose texts come from the tenant's own guest
 *    and tell the tenant why quiescing failed;
 *  - the host manager's reads (Ping, GetInventory, GetVmStates). Their failures reach admins only
 *    (addHost's error, the heartbeat's log line; a tenant's job only learns that a read failed),
 *    and an admin adding or watching a host needs the transport's reason (connection refused, a
 *    TLS mismatch, an HTTP status); the agent's body is never part of it. Reporting them would
 *    also record an event per missed heartbeat.
 * Every other kind, including any the protocol gains later, is redacted.
 */
import {
  AGENT_COMMAND_KINDS,
  type AgentCommand,
  type AgentCommandKind,
  type AgentGateway,
  type AnswerFor,
} from '../core/plugin-api.ts';
import { AgentTimeoutError, AgentUnavailableError } from '../core/errors.ts';
import type { FailureReporter, InternalFailure } from './internal-failure.ts';

const PASSED_THROUGH: ReadonlySet<AgentCommandKind> = new Set<AgentCommandKind>([
  'GuestPing',
  'FreezeThaw',
  'Ping',
  'GetInventory',
  'GetVmStates',
]);

const REDACTED: ReadonlySet<AgentCommandKind> = new Set(
  AGENT_COMMAND_KINDS.filter((kind) => !PASSED_THROUGH.has(kind)),
);

const EVENT_TYPE: Partial<Record<AgentCommandKind, string>> = {
  CreateVMSnapshot: 'VMSNAPSHOT.CREATE',
  RevertToVMSnapshot: 'VMSNAPSHOT.REVERTTO',
  DeleteVMSnapshot: 'VMSNAPSHOT.DELETE',
};

/** An agent that could not be reached, named as CloudStack names it; the text is the summary. */
export class HostUnreachableError extends AgentUnavailableError {}

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
