/**
 * Column widths that fit a table into the terminal: every column keeps its natural width (its
 * widest cell plus cli-table3's one-space padding each side) except the free-text columns, which
 * give up width, widest first, until the table fits or they reach a floor. A table that fits gets
 * no widths at all, so cli-table3 lays it out as before.
 */

/** cli-table3's default padding: one space left and right of every cell. */
const PADDING = 2;
/** A free-text column never gets narrower than this (padding included): a few words stay legible. */
const FLOOR = 12;

/**
 * The widths for cli-table3's `colWidths`, or undefined when the table already fits in `width`.
 * `rows` includes the heading row, if any. Best effort: when the fixed columns alone are wider than
 * the terminal, the free-text columns stop at the floor and the table stays too wide.
 */
export function fitColumns(
  rows: readonly (readonly string[])[],
  width: number,
  wrap: readonly number[],
): number[] | undefined {
  const count = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: count }, (_, i) => naturalWidth(rows, i));
  // One border character left of every column, and one at the right end.
  const total = (): number => widths.reduce((a, b) => a + b, 0) + count + 1;
  if (total() <= width) return undefined;
  const shrinkable = wrap.filter((i) => i >= 0 && i < count);
  for (let over = total() - width; over > 0; over--) {
    const widest = shrinkable.reduce<number | undefined>(
      (best, i) =>
        (widths[i] ?? 0) > FLOOR && (best === undefined || (widths[i] ?? 0) > (widths[best] ?? 0)) ? i : best,
      undefined,
    );
    if (widest === undefined) break;
    widths[widest] = (widths[widest] ?? FLOOR) - 1;
  }
  return widths;
}

function naturalWidth(rows: readonly (readonly string[])[], column: number): number {
  let widest = 0;
  for (const row of rows) {
    for (const line of (row[column] ?? '').split('\n')) widest = Math.max(widest, displayWidth(line));
  }
  return widest + PADDING;
}

/** Characters, not UTF-16 units (`└─` and accented names count once per character). */
function displayWidth(text: string): number {
  return [...text].length;
}
