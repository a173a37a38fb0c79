/** Milliseconds as timings and facts report them: two decimals, enough for sub-millisecond pauses. */
export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
