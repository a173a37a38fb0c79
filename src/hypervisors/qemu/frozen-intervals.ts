/**
 * # Every freeze of one operation, counted
 *
 * An interval runs from the moment `guest-fsfreeze-freeze` is sent to the moment a thaw is answered
 * (or, when no thaw was answered, the last thaw attempt gave up: the guest may still be frozen then,
 * so that end is a lower bound). The operation reports the longest interval and their sum, so no
 * freeze (a flush cycle before the cut, a retry) can hide behind the window around the cut.
 */
export interface FrozenSummary {
  /** The longest continuous frozen interval, ms. */
  readonly maxMs: number;
  /** All frozen intervals added up, ms. */
  readonly totalMs: number;
  readonly count: number;
}

export class FrozenIntervals {
  private readonly closed: number[] = [];
  private openedAt: number | null = null;

  constructor(private readonly now: () => number) {}

  /** A freeze is about to be sent. A freeze while one is open extends that one (one continuous span). */
  freezeSent(): void {
    if (this.openedAt === null) this.openedAt = this.now();
  }

  /** A thaw was answered (or the last attempt to thaw gave up); closes the open interval, if any. */
  thawEnded(): void {
    if (this.openedAt === null) return;
    this.closed.push(Math.max(0, this.now() - this.openedAt));
    this.openedAt = null;
  }

  get isOpen(): boolean {
    return this.openedAt !== null;
  }

  /** Closed intervals only, plus the open one up to now: a summary never leaves a freeze out. */
  summary(): FrozenSummary {
    const all = this.openedAt === null ? this.closed : [...this.closed, this.now() - this.openedAt];
    return {
      maxMs: all.reduce((m, ms) => Math.max(m, ms), 0),
      totalMs: all.reduce((s, ms) => s + ms, 0),
      count: all.length,
    };
  }
}
