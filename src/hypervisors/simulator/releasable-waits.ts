/**
 * Timed waits and hangs that can be released from outside, so a disposed simulator leaves no timer or
 * forever-pending promise behind (tests would otherwise leak handles or never finish).
 */
export type WaitOutcome = 'elapsed' | 'released';

interface Pending {
  readonly timer: NodeJS.Timeout | null;
  readonly resolve: (outcome: WaitOutcome) => void;
}

export class ReleasableWaits {
  private readonly sleeps = new Set<Pending>();
  private readonly hangs = new Set<Pending>();
  /** After close(), a new wait is released at once: a call that reaches it after dispose never hangs. */
  private closed = false;

  /** Resolves `elapsed` after `ms`, or `released` early when released. */
  sleep(ms: number): Promise<WaitOutcome> {
    if (this.closed) return Promise.resolve('released');
    return new Promise((resolve) => {
      const pending: Pending = {
        timer: setTimeout(() => {
          this.sleeps.delete(pending);
          resolve('elapsed');
        }, ms),
        resolve,
      };
      this.sleeps.add(pending);
    });
  }

  /** Never elapses: resolves `released` only when hangs are released. */
  hang(): Promise<WaitOutcome> {
    if (this.closed) return Promise.resolve('released');
    return new Promise((resolve) => {
      this.hangs.add({ timer: null, resolve });
    });
  }

  get pendingHangs(): number {
    return this.hangs.size;
  }

  releaseHangs(): void {
    release(this.hangs);
  }

  releaseAll(): void {
    release(this.hangs);
    release(this.sleeps);
  }

  /** Releases everything, now and from now on. */
  close(): void {
    this.closed = true;
    this.releaseAll();
  }
}

function release(set: Set<Pending>): void {
  for (const pending of set) {
    if (pending.timer) clearTimeout(pending.timer);
    pending.resolve('released');
  }
  set.clear();
}
