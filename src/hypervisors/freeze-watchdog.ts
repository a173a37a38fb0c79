/**
 * Timers that thaw a frozen guest when its freeze budget runs out, whatever the management server does:
 * a host agent must never leave a guest frozen because its caller died (vdsm issue 160: 7.7 h frozen).
 * Shared by the simulator and the QEMU agent. The timers live in this process only: each agent also
 * persists every freeze with its deadline, so that a restarted agent thaws what the dead one froze.
 */
export class FreezeWatchdog {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly clock: () => number,
    private readonly onExpire: (vmName: string) => void,
  ) {}

  /** Arms (or re-arms) the watchdog of a VM for an absolute deadline in epoch ms. */
  arm(vmName: string, deadline: number): void {
    this.disarm(vmName);
    const timer = setTimeout(
      () => {
        this.timers.delete(vmName);
        this.onExpire(vmName);
      },
      Math.max(0, deadline - this.clock()),
    );
    // The watchdog must not keep a finished test or CLI process alive; a server has its own handles.
    timer.unref();
    this.timers.set(vmName, timer);
  }

  disarm(vmName: string): void {
    const timer = this.timers.get(vmName);
    if (timer) clearTimeout(timer);
    this.timers.delete(vmName);
  }

  isArmed(vmName: string): boolean {
    return this.timers.has(vmName);
  }

  disarmAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
