/**
 * Waiting for a condition instead of sleeping. A test that sleeps "long enough" fails on a busy CI
 * machine (2 shared vCPUs) and wastes time on an idle one; a test that polls for the condition it
 * needs is as fast as the code allows and only gives up after a generous bound, which is a failure
 * report, never a measurement.
 *
 * The polling uses the real timer and monotonic clock, captured when this module loads, so it keeps
 * working while a test has installed vitest's fake timers (which replace the globals).
 */
import { setTimeout as realDelay } from 'node:timers/promises';

/** Generous: only reached when the condition never holds, so it costs nothing on a passing run. */
export const EVENTUALLY_TIMEOUT_MS = 20_000;

export interface EventuallyOptions {
  /** Give up (and throw, naming `what`) after this long. */
  readonly timeoutMs?: number;
  /** Pause between probes. */
  readonly everyMs?: number;
}

const realHrtime = process.hrtime.bigint.bind(process.hrtime);

/** Milliseconds on the real monotonic clock. */
function monotonicMs(): number {
  return Number(realHrtime() / 1_000_000n);
}

/**
 * Polls `probe` until it returns a value other than `undefined` and returns that value. A probe that
 * throws fails the wait at once (an error is an answer, not "not yet"). Bounded in time
 * (`timeoutMs`) and therefore in count.
 */
export async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  options: EventuallyOptions | number = {},
): Promise<T> {
  const { timeoutMs = EVENTUALLY_TIMEOUT_MS, everyMs = 20 } =
    typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = monotonicMs() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (monotonicMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await realDelay(everyMs);
  }
}

/** Waits until `condition` is true (see `eventually`). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  options: EventuallyOptions | number = {},
): Promise<void> {
  await eventually(async () => ((await condition()) ? true : undefined), what, options);
}
