/**
 * # Flushing the guest before its freeze, without freezing it
 *
 * A freeze starts with the filesystem's own sync, so whatever is dirty when it arrives is written
 * while the guest cannot write. Running `sync` in the guest first (qemu-ga `guest-exec`, polled with
 * `guest-exec-status`) moves that work out of the freeze; measured on the tiny test guest (TCG, 1 MiB
 * dirtied between snapshots, docs/benchmarks.md) it is what keeps the freeze short. It replaces the
 * freeze/thaw flush cycle the agent ran before (that cycle blocked guest writes for 44–84 ms itself).
 *
 * Outcomes: `done`; `refused` (qemu-ga has no or a disabled `guest-exec`, or the program could not
 * start: the freeze goes ahead, it only does the flush itself); `timed-out` (the sync still runs at
 * its deadline: the freeze goes ahead and finishes the flush). A guest agent that leaves a request
 * unanswered (`requestTimeoutMs`) fails the snapshot here, before any freeze is sent: a freeze sent to
 * an agent that answers nothing might take effect after the caller gave up.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { GuestAgentError, type GuestAgentClient } from './guest-agent-client.ts';
import { hostNowMs, round } from './host-timing.ts';
import { QmpTimeoutError } from './qmp-client.ts';

/** What runs before the freeze: `sync` through guest-exec, the old freeze/thaw cycle, or nothing. */
export const PRE_FREEZE_FLUSHES = ['sync', 'freeze-cycle', 'none'] as const;
export type PreFreezeFlush = (typeof PRE_FREEZE_FLUSHES)[number];

export interface GuestSyncOptions {
  /** Program and arguments (default `sync`); tests swap in a program that never ends. */
  readonly command?: readonly string[];
  /** How long the sync may run before the freeze goes ahead anyway (default 5,000 ms). */
  readonly timeoutMs?: number;
  /**
   * How long one guest-exec or guest-exec-status request may go unanswered before the guest agent
   * counts as not answering (default 5,000 ms, the agent's usual request timeout). Apart from the
   * sync's deadline: a poll sent just before that deadline still gets all of it.
   */
  readonly requestTimeoutMs?: number;
  /** Wait between two `guest-exec-status` polls (default 5 ms: the guest's vCPU also runs the sync). */
  readonly pollMs?: number;
}

export interface GuestSyncOutcome {
  readonly result: 'done' | 'refused' | 'timed-out';
  readonly ms: number;
  /** Why it was refused, or the program's non-zero exit. */
  readonly reason?: string;
}

/** Raised when the guest agent stops answering during the pre-freeze sync (nothing is frozen). */
export class GuestSyncUnansweredError extends Error {
  override readonly name = 'GuestSyncUnansweredError';
}

export async function syncGuestBeforeFreeze(
  guest: GuestAgentClient,
  options: GuestSyncOptions = {},
): Promise<GuestSyncOutcome> {
  const [program, ...args] = options.command ?? ['sync'];
  const timeoutMs = options.timeoutMs ?? 5000;
  const requestMs = options.requestTimeoutMs ?? 5000;
  const pollMs = options.pollMs ?? 5;
  const started = hostNowMs();
  const elapsed = (): number => round(hostNowMs() - started);
  try {
    const pid = await guest.exec(program ?? 'sync', args, requestMs);
    // Bounded in count as well as in time (each round waits pollMs).
    const maxPolls = Math.ceil(timeoutMs / Math.max(1, pollMs)) + 1;
    for (let poll = 0; poll < maxPolls && hostNowMs() - started < timeoutMs; poll++) {
      const code = await guest.execExitCode(pid, requestMs);
      if (code === 0) return { result: 'done', ms: elapsed() };
      if (code !== null) return { result: 'done', ms: elapsed(), reason: `exit code ${code}` };
      await delay(pollMs);
    }
    return { result: 'timed-out', ms: elapsed() };
  } catch (error) {
    if (error instanceof GuestAgentError) return { result: 'refused', ms: elapsed(), reason: error.desc };
    if (error instanceof QmpTimeoutError)
      throw new GuestSyncUnansweredError(
        `its guest agent stopped answering during the pre-freeze sync (${error.message})`,
      );
    throw error;
  }
}

/** One line for the snapshot's details. */
export function describeGuestSync(outcome: GuestSyncOutcome): string {
  const why = outcome.reason ? `: ${outcome.reason}` : '';
  return `guest sync before the freeze ${outcome.result} in ${outcome.ms} ms${why}`;
}
