/**
 * The one way vmsnap reads an integer from text it was given (API parameters, setting values,
 * disk size lists). JavaScript's `Number` and `parseInt` accept far more than a decimal integer
 * (`1e9`, `0x10`, `0b1`, ` 5 `, `5.0`, `12abc` with parseInt, `Infinity`), and a value outside the
 * safe range silently loses digits; each of those has let a caller ask for something other than what
 * the checks saw. Only `^-?[0-9]+$` within a stated range passes here.
 */

export interface IntegerRange {
  readonly min: number;
  readonly max: number;
}

/** Java's int, the range of CloudStack's INTEGER parameters. */
export const INT32_RANGE: IntegerRange = { min: -2_147_483_648, max: 2_147_483_647 };

/** Java's long, cut to what a double holds exactly (CloudStack's LONG parameters). */
export const SAFE_LONG_RANGE: IntegerRange = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };

const DECIMAL_INTEGER = /^-?[0-9]+$/;

/** The integer `text` spells in plain decimal, if it lies within `range`; otherwise null. */
export function parseStrictInteger(text: string, range: IntegerRange): number | null {
  if (!DECIMAL_INTEGER.test(text)) return null;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) return null;
  // `-0` is zero.
  return n === 0 ? 0 : n;
}
