/**
 * The progress of a job being waited for, on stderr so stdout stays clean for tables and JSON. On a
 * terminal one line is rewritten in place (with the elapsed time ticking); in a pipe or log a line
 * is written only when the job's progress text changes, so logs get one line per phase.
 */
import type { JobProgress } from './api-client.ts';

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export class ProgressLine {
  private lastText: string | undefined;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly stream: ProgressStream = process.stderr,
  ) {}

  update(p: JobProgress): void {
    const text = `${this.label}: ${p.progress ?? 'pending'}`;
    if (this.stream.isTTY === true) {
      this.stream.write(`\r\x1b[2K${text} (${seconds(p.elapsedMs)})`);
      this.shown = true;
    } else if (text !== this.lastText) {
      this.stream.write(`${text} (${seconds(p.elapsedMs)})\n`);
    }
    this.lastText = text;
  }

  /** The final line: `<label>: succeeded in 0.4s`. */
  finish(outcome: string, elapsedMs: number): void {
    const text = `${this.label}: ${outcome} in ${seconds(elapsedMs)}\n`;
    this.stream.write(this.shown ? `\r\x1b[2K${text}` : text);
    this.shown = false;
  }
}

export function seconds(elapsedMs: number): string {
  return `${(elapsedMs / 1000).toFixed(1)}s`;
}
