/**
 * How client commands write: a table (cli-table3) for people, or the raw API payload as JSON for
 * scripts. Commands get an Output instead of touching process.stdout, so tests and the `--json`
 * switch stay in one place. On a terminal, a table wider than the terminal wraps its free-text
 * columns (names) inside their cells instead of letting the terminal fold every row.
 */
import Table from 'cli-table3';
import { fitColumns } from './table-width.ts';

export type Cell = string | number | boolean | undefined | null;

export interface TableOptions {
  /**
   * Columns of free text (names, endpoints) that may wrap to fit the terminal. Other columns (ids,
   * states, times) keep their width, so an id is never split.
   */
  readonly wrap?: readonly number[];
}

export interface Output {
  readonly json: boolean;
  /** Writes a line to stdout. */
  line(text: string): void;
  table(head: readonly string[], rows: readonly (readonly Cell[])[], options?: TableOptions): void;
  /** Key/value rows, for one object (a job, a single snapshot). */
  record(rows: readonly (readonly [string, Cell])[]): void;
  printJson(value: unknown): void;
}

export interface Streams {
  readonly stdout: {
    write(text: string): unknown;
    readonly isTTY?: boolean;
    /** The terminal's width; only read when isTTY (a pipe or file gets full-width rows). */
    readonly columns?: number;
  };
}

export function createOutput(json: boolean, streams: Streams = { stdout: process.stdout }): Output {
  const write = (text: string): void => void streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const width = streams.stdout.isTTY === true ? streams.stdout.columns : undefined;
  const render = (head: readonly string[], rows: readonly string[][], wrap: readonly number[]): string => {
    const colWidths = width === undefined ? undefined : fitColumns([head, ...rows], width, wrap);
    const table = new Table({
      ...(head.length > 0 ? { head: [...head] } : {}),
      style: NO_COLOR,
      chars: NO_ROW_LINES,
      // Hard wrap: a long name without spaces must wrap too, and no character is dropped.
      ...(colWidths !== undefined ? { colWidths, wordWrap: true, wrapOnWordBoundary: false } : {}),
    });
    for (const row of rows) table.push(row);
    return table.toString();
  };
  return {
    json,
    line: write,
    table(head, rows, options = {}) {
      write(
        render(
          head,
          rows.map((row) => row.map(cellText)),
          options.wrap ?? [],
        ),
      );
    },
    record(rows) {
      const shown = rows.filter(([, value]) => value !== undefined && value !== null && value !== '');
      // The value column is the free text.
      write(
        render(
          [],
          shown.map(([key, value]) => [key, cellText(value)]),
          [1],
        ),
      );
    },
    printJson(value) {
      write(JSON.stringify(value, null, 2));
    },
  };
}

// cli-table3 colours headings by default; escape codes would pollute pipes and logs.
const NO_COLOR = { head: [] as string[], border: [] as string[] };
// No rule between body rows: long lists stay half as tall and easy to grep.
const NO_ROW_LINES = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

export function cellText(value: Cell): string {
  if (value === undefined || value === null) return '';
  return String(value);
}

/** `12.345` -> `12.3`; absent stays blank. */
export function ms(value: unknown): string {
  return typeof value === 'number' ? (Math.round(value * 10) / 10).toString() : '';
}

export function str(value: unknown): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : '';
}
