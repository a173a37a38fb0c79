/**
 * Per-statement timing of every better-sqlite3 statement in this process (bench:scale
 * --profile-sql): which SQL the time goes to, and how often it runs, between start() and take().
 * It patches the shared Statement prototype, so it sees the store's statements whatever opened them.
 */
import SqliteDatabase from 'better-sqlite3';

export interface SqlProfileLine {
  readonly sql: string;
  readonly calls: number;
  readonly totalMs: number;
  /** Process CPU time (user + system) during the calls: on a loaded machine, wall time is mostly waiting for a CPU. */
  readonly cpuMs: number;
  readonly rows: number;
}

interface Tally {
  calls: number;
  totalMs: number;
  cpuMs: number;
  rows: number;
}

let tallies: Map<string, Tally> | undefined;

type Method = (this: SqliteDatabase.Statement, ...args: unknown[]) => unknown;

/** Installs the timing wrappers (once). */
export function installSqlProfile(): void {
  const probe = new SqliteDatabase(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, Method>;
  probe.close();
  for (const name of ['run', 'get', 'all', 'iterate'] as const) {
    const original = proto[name]!;
    proto[name] = function (this: SqliteDatabase.Statement, ...args: unknown[]): unknown {
      if (tallies === undefined) return original.apply(this, args);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const out = original.apply(this, args);
      const cpu = process.cpuUsage(cpu0);
      const tally = tallies.get(this.source) ?? { calls: 0, totalMs: 0, cpuMs: 0, rows: 0 };
      tally.calls++;
      tally.totalMs += performance.now() - t0;
      tally.cpuMs += (cpu.user + cpu.system) / 1000;
      tally.rows += Array.isArray(out) ? out.length : 1;
      tallies.set(this.source, tally);
      return out;
    };
  }
}

export function startSqlProfile(): void {
  tallies = new Map();
}

/** The statements since start(), most total time first. */
export function takeSqlProfile(): SqlProfileLine[] {
  const lines = [...(tallies ?? new Map<string, Tally>()).entries()].map(([sql, t]) => ({ sql, ...t }));
  tallies = undefined;
  return lines.sort((a, b) => b.totalMs - a.totalMs);
}
