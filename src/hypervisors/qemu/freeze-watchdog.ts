/**
 * # The freeze watchdog
 *
 * Thaws a guest when its freeze budget runs out, even if the caller (the management server) never
 * thaws it. One timer per VM, in this process's memory only: that is why every freeze is also
 * persisted with its deadline (`guest-freeze.ts`), so a restarted agent can thaw what the dead one
 * froze (`startup-recovery.ts`).
 */
import type { Logger } from '../../core/plugin-api.ts';

export class FreezeWatchdog {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly log: Logger,
    private readonly thaw: (vmName: string) => Promise<void>,
  ) {}

  /** Thaws the guest after `delayMs` even if the caller (the management server) never does. */
  arm(name: string, delayMs: number): void {
    this.disarm(name);
    const timer = setTimeout(
      () => {
        this.timers.delete(name);
        this.log.warn({ vm: name }, 'freeze budget exceeded: the agent thaws the guest');
        void this.thaw(name);
      },
      Math.max(0, delayMs),
    );
    timer.unref();
    this.timers.set(name, timer);
  }

  disarm(name: string): void {
    const timer = this.timers.get(name);
    if (timer) clearTimeout(timer);
    this.timers.delete(name);
  }

  /** Stops every timer (agent close). */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
