/**
 * How client commands write: a table (cli-table3) for people, or the raw API payload as JSON for
 * scripts. Commands get an Output instead of touching process.stdout, so tests and the `--json`
 * switch stay in one place.
 */
import Table from 'cli-table3';

export type Cell = string | number | boolean | undefined | null;

export interface Output {
  readonly json: boolean;
  /** Writes a line to stdout. */
  line(text: string): void;
  table(head: readonly string[], rows: readonly (readonly Cell[])[]): void;
  /** Key/value rows, for one object (a job, a single snapshot). */
  record(rows: readonly (readonly [string, Cell])[]): void;
  printJson(value: unknown): void;
}

export interface Streams {
  readonly stdout: { write(text: string): unknown };
}

export function createOutput(json: boolean, streams: Streams = { stdout: process.stdout }): Output {
  const write = (text: string): void => void streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return {
    json,
    line: write,
    table(head, rows) {
      const table = new Table({ head: [...head], style: NO_COLOR, chars: NO_ROW_LINES });
      for (const row of rows) table.push(row.map(cellText));
      write(table.toString());
    },
    record(rows) {
      const table = new Table({ style: NO_COLOR, chars: NO_ROW_LINES });
      for (const [key, value] of rows) {
        if (value !== undefined && value !== null && value !== '') table.push([key, cellText(value)]);
      }
      write(table.toString());
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
