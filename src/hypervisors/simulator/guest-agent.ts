/**
 * The simulated QEMU guest agent of a VM: present (fast), absent, slow, or hung.
 *
 * Like the KVM agent (which gives qemu-guest-agent 10 s), the host side never waits forever: every
 * call has a timeout, and a slow or hung agent turns into a clear failure when it runs out.
 */
import { assertNever } from '../../core/assert-never.ts';
import type { GuestAgentMode } from './simulator-state.ts';
import type { ReleasableWaits } from './releasable-waits.ts';

export type { GuestAgentMode } from './simulator-state.ts';
export type GuestAgentModeText = 'present' | 'absent' | 'hung' | `slow:${number}`;
export type GuestAgentCommand =
  'guest-ping' | 'guest-fsfreeze-freeze' | 'guest-fsfreeze-thaw' | 'guest-fsfreeze-status';

/** CloudStack's text for a guest without a connected agent (KVM disk-only snapshot wrapper). */
export const GUEST_AGENT_NOT_CONNECTED = 'QEMU guest agent is not connected';

export const DEFAULT_GUEST_AGENT_TIMEOUT_MS = 10_000;

export type GuestCallResult = { readonly ok: true } | { readonly ok: false; readonly details: string };

export function parseGuestAgentMode(text: string): GuestAgentMode {
  const value = text.trim().toLowerCase();
  if (value === 'present' || value === 'absent' || value === 'hung') return { kind: value };
  const slow = /^slow[:=](\d+)$/.exec(value);
  if (slow?.[1] !== undefined) return { kind: 'slow', ms: Number(slow[1]) };
  throw new Error(`Unsupported guest agent mode '${text}': expected present, absent, slow:<ms> or hung`);
}

export function formatGuestAgentMode(mode: GuestAgentMode): GuestAgentModeText {
  return mode.kind === 'slow' ? `slow:${mode.ms}` : mode.kind;
}

/**
 * Performs one guest agent call in the given mode: how long it takes and whether it answers.
 * The caller applies the effect (freeze, thaw) only after an `ok`.
 */
export async function callGuestAgent(
  mode: GuestAgentMode,
  command: GuestAgentCommand,
  timeoutMs: number,
  waits: ReleasableWaits,
): Promise<GuestCallResult> {
  switch (mode.kind) {
    case 'present':
      return { ok: true };
    case 'absent':
      return { ok: false, details: GUEST_AGENT_NOT_CONNECTED };
    case 'slow':
      if (mode.ms > timeoutMs) return timedOut(command, timeoutMs, waits);
      return (await waits.sleep(mode.ms)) === 'elapsed' ? { ok: true } : released(command);
    case 'hung':
      return timedOut(command, timeoutMs, waits);
    default:
      return assertNever(mode, 'Unexpected guest agent mode');
  }
}

async function timedOut(
  command: GuestAgentCommand,
  timeoutMs: number,
  waits: ReleasableWaits,
): Promise<GuestCallResult> {
  if ((await waits.sleep(timeoutMs)) === 'released') return released(command);
  return { ok: false, details: `Guest agent command ${command} timed out after ${timeoutMs} ms` };
}

function released(command: GuestAgentCommand): GuestCallResult {
  return { ok: false, details: `Guest agent command ${command} abandoned: simulator disposed` };
}
