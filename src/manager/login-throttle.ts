/**
 * Failed logins, counted per username and per client address (issue 14). After `allowed` failures
 * within `windowMs` for one username (or 4 × `allowed` from one address, which may be a NAT shared
 * by many users), further attempts are refused for `windowMs` without checking the password.
 *
 * Kept in this server's memory, not in the database: counting in the database would turn every
 * attempt of an attacker into a write on the shared database (the very thing a flood should not
 * reach), and the limit is a brake on guessing, not an account lock. With N servers behind a load
 * balancer an attacker gets at most N times the attempts, still a handful per window. A restart
 * forgets the counts. Unknown usernames are counted too, so a refusal says nothing about which
 * usernames exist.
 */
export interface ThrottleLimits {
  /** Failures per username within the window (CloudStack's incorrect.login.attempts.allowed). */
  readonly allowed: number;
  /** Both the window the failures are counted in and how long a refusal lasts. */
  readonly windowMs: number;
}

interface Counter {
  failures: number;
  windowStart: number;
  lockedUntil: number;
  /** Attempts whose password is being checked right now. */
  inFlight: number;
}

/** How an attempt that `begin` let through ended. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'aborted';

/** One address may fail this many times more than one username (several users behind one NAT). */
const ADDRESS_FACTOR = 4;
/** Bound on remembered keys: an attacker inventing usernames must not grow the map forever. */
const MAX_KEYS = 10_000;
/** What a caller refused only for attempts still in flight is told to wait. */
const IN_FLIGHT_WAIT_MS = 1_000;

export class LoginThrottle {
  private readonly counters = new Map<string, Counter>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Reserves an attempt: 0 when it may go on (then report its end to `finish`), else the
   * milliseconds to wait. Attempts still in flight count as failures until they end, so guesses
   * sent in parallel cannot all slip past the limit before the first one is counted.
   */
  begin(username: string, address: string, limits: ThrottleLimits): number {
    const now = this.now();
    const keys = keysOf(username, address, limits.allowed);
    const wait = Math.max(...keys.map(([key, allowed]) => this.waitFor(key, allowed, limits.windowMs, now)));
    if (wait > 0) return wait;
    for (const [key] of keys) this.counter(key, limits.windowMs, now).inFlight += 1;
    return 0;
  }

  /**
   * Ends an attempt. A failure counts against both the username and the address; a success clears
   * the username's count, not the address's (an attacker with an account of its own could otherwise
   * reset its address's count between guesses at other users); an abort (a database error) counts
   * for nothing.
   */
  finish(username: string, address: string, outcome: AttemptOutcome, limits: ThrottleLimits): void {
    const now = this.now();
    for (const [key, allowed] of keysOf(username, address, limits.allowed)) {
      const c = this.counter(key, limits.windowMs, now);
      c.inFlight = Math.max(0, c.inFlight - 1);
      if (outcome === 'failed') {
        c.failures += 1;
        if (c.failures >= allowed) c.lockedUntil = now + limits.windowMs;
      }
    }
    if (outcome === 'succeeded') {
      const c = this.counters.get(userKey(username));
      if (c !== undefined) c.failures = 0;
    }
  }

  private waitFor(key: string, allowed: number, windowMs: number, now: number): number {
    const c = this.counters.get(key);
    if (c === undefined) return 0;
    if (c.lockedUntil > now) return c.lockedUntil - now;
    const failures = now - c.windowStart < windowMs ? c.failures : 0;
    return failures + c.inFlight >= allowed ? IN_FLIGHT_WAIT_MS : 0;
  }

  /** The key's counter, its failures forgotten once their window has passed. */
  private counter(key: string, windowMs: number, now: number): Counter {
    let c = this.counters.get(key);
    if (c === undefined) {
      c = { failures: 0, windowStart: now, lockedUntil: 0, inFlight: 0 };
      this.remember(key, c, windowMs, now);
    } else if (now - c.windowStart >= windowMs) {
      c.failures = 0;
      c.windowStart = now;
    }
    return c;
  }

  private remember(key: string, c: Counter, windowMs: number, now: number): void {
    if (this.counters.size >= MAX_KEYS) this.forgetStale(windowMs, now);
    // Still full of live counters: drop the oldest (Map keeps insertion order).
    if (this.counters.size >= MAX_KEYS) {
      const oldest = this.counters.keys().next();
      if (oldest.done !== true) this.counters.delete(oldest.value);
    }
    this.counters.set(key, c);
  }

  /** Counters that hold nothing any more: no lock, nothing in flight, their window passed. */
  private forgetStale(windowMs: number, now: number): void {
    for (const [key, c] of this.counters) {
      if (c.lockedUntil <= now && c.inFlight === 0 && now - c.windowStart >= windowMs)
        this.counters.delete(key);
    }
  }
}

function keysOf(username: string, address: string, allowed: number): [string, number][] {
  return [
    [userKey(username), allowed],
    [addressKey(address), allowed * ADDRESS_FACTOR],
  ];
}

function userKey(username: string): string {
  return `u:${username}`;
}

function addressKey(address: string): string {
  return `a:${address}`;
}
