/**
 * Tables on a terminal fit its width: free-text columns (names) wrap inside their cells, ids keep
 * their width, and no character is dropped. In a pipe, rows stay one line each, as before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createOutput } from '../../src/cli/client/output.ts';
import { fitColumns } from '../../src/cli/client/table-width.ts';

const ID = '3f2b8c1e-5d6a-4e7f-9a0b-1c2d3e4f5a6b';
const LONG = `nightly-before-upgrade-${'x'.repeat(90)}-end`;

function render(columns: number | undefined): string[] {
  let text = '';
  const stdout = {
    isTTY: columns !== undefined,
    ...(columns !== undefined ? { columns } : {}),
    write: (s: string) => (text += s),
  };
  createOutput(false, { stdout }).table(
    ['id', 'name', 'state'],
    [
      [ID, LONG, 'Ready'],
      [ID.replace('3f', '40'), 'short', 'Ready'],
    ],
    { wrap: [1] },
  );
  return text.trimEnd().split('\n');
}

describe('tables and the terminal width', () => {
  it('on an 80-column terminal no line is wider than 80, ids stay whole, the long name is all there', () => {
    const lines = render(80);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
    expect(lines.some((l) => l.includes(ID))).toBe(true);
    // The name column's pieces, read top to bottom, give back the whole name.
    const nameCells = lines
      .map((l) => l.split('│')[2]?.trim() ?? '')
      .filter((cell) => cell !== '' && cell !== 'name');
    expect(nameCells.join('').startsWith(LONG)).toBe(true);
    expect(nameCells.length).toBeGreaterThan(1);
  });

  it('in a pipe (no terminal) every row stays on one line', () => {
    const lines = render(undefined);
    expect(lines.find((l) => l.includes(ID))).toContain(LONG);
  });

  it('a table that fits is laid out unchanged', () => {
    expect(
      fitColumns(
        [
          ['id', 'name'],
          [ID, 'web-1'],
        ],
        200,
        [1],
      ),
    ).toBeUndefined();
  });

  it('for any cells: fixed columns keep their width; wrapped ones shrink, not below the floor, until it fits', () => {
    const cells = fc.array(fc.string({ maxLength: 60 }), { minLength: 3, maxLength: 3 });
    fc.assert(
      fc.property(
        fc.array(cells, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 20, max: 160 }),
        (rows, width) => {
          const natural = [0, 1, 2].map((i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)) + 2);
          const widths = fitColumns(rows, width, [1, 2]) ?? natural;
          expect(widths[0]).toBe(natural[0]);
          for (const i of [1, 2]) {
            expect(widths[i]).toBeLessThanOrEqual(natural[i] ?? 0);
            expect(widths[i]).toBeGreaterThanOrEqual(Math.min(natural[i] ?? 0, 12));
          }
          const least = (natural[0] ?? 0) + Math.min(natural[1] ?? 0, 12) + Math.min(natural[2] ?? 0, 12) + 4;
          if (least <= width) expect(widths.reduce((a, b) => a + b, 0) + 4).toBeLessThanOrEqual(width);
        },
      ),
    );
  });
});
