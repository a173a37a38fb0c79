/**
 * Timing checks on vitest's fake clock. "The watchdog fires after the budget" measured on the wall
 * clock fails when a busy CI machine stretches 150 ms to 1 s; on the fake clock the budget is exact:
 * the promise is still pending 1 ms before it and has settled at it, however slow the machine is.
 * The test installs the fake clock (`vi.useFakeTimers()`) before it creates the code under test, so
 * that code's `setTimeout` and `Date.now` are the fake ones.
 */
import { vi } from 'vitest';

/**
 * Installs the fake clock for timers and `Date` only: `setImmediate` and `nextTick` stay real, so
 * code that yields to I/O with them (the simulator's state flush) still runs on its own.
 */
export function useFakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
}

export interface Tracked<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
}

/** A promise and whether it has settled yet (its rejection is handled here, and kept in `promise`). */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked = { promise, settled: false };
  promise.then(
    () => (tracked.settled = true),
    () => (tracked.settled = true),
  );
  return tracked;
}

/** Advances the fake clock by `ms`, then returns the promise's outcome; throws if it is still pending. */
export async function after<T>(ms: number, promise: Promise<T>): Promise<T> {
  const tracked = track(promise);
  await vi.advanceTimersByTimeAsync(ms);
  if (!tracked.settled) throw new Error(`still pending after ${ms} ms of fake time`);
  return promise;
}

/**
 * Checks that `promise` settles exactly `ms` of fake time from now: pending at `ms - 1`, settled at
 * `ms`. Returns its outcome.
 */
export async function settlesAt<T>(ms: number, promise: Promise<T>): Promise<T> {
  const tracked = track(promise);
  await vi.advanceTimersByTimeAsync(ms - 1);
  if (tracked.settled) throw new Error(`settled before ${ms} ms of fake time`);
  await vi.advanceTimersByTimeAsync(1);
  if (!tracked.settled) throw new Error(`still pending after ${ms} ms of fake time`);
  return promise;
}

/** Lets callbacks already queued with the real `setImmediate` (I/O yields) run. */
async function drainImmediates(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * For code that yields to real I/O between its timers (see `useFakeClock`): advances the fake clock
 * 1 ms at a time, letting that I/O run in between, until `promise` settles. Returns its outcome and
 * the fake milliseconds it took. Bounded: throws once `maxMs` of fake time pass without an outcome.
 */
export async function fakeMsUntilSettled<T>(
  promise: Promise<T>,
  maxMs: number,
): Promise<{ value: T; ms: number }> {
  const tracked = track(promise);
  let ms = 0;
  await drainImmediates();
  while (!tracked.settled) {
    if (ms >= maxMs) throw new Error(`still pending after ${maxMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(1);
    ms++;
    await drainImmediates();
  }
  return { value: await promise, ms };
}
