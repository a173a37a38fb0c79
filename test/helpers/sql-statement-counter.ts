/**
 * Counts the SQL statements a process sends (the API bench server, tests of statement counts), on either engine, without touching the store's
 * code: the drivers' own entry points are wrapped (better-sqlite3's Statement methods, which kysely
 * calls once per query; pg's Client.query). BEGIN and COMMIT are counted like any statement.
 * Installed once per process (a test file, the bench server), before the statements to count.
 */
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';

export interface StatementLog {
  /** Statements since the last reset. */
  readonly count: number;
  /** Statements since the last reset, in order, when tracing (`trace(true)`). */
  readonly traced: readonly string[];
  reset(): void;
  trace(on: boolean): void;
}

let installed: StatementLog | undefined;

/** The process's counter, installed on first use (the drivers are wrapped once). */
export function installStatementCounter(): StatementLog {
  installed ??= install();
  return installed;
}

function install(): StatementLog {
  let count = 0;
  let tracing = false;
  let traced: string[] = [];
  const seen = (source: string): void => {
    count++;
    if (tracing) traced.push(source.replace(/\s+/g, ' ').slice(0, 240));
  };
  const probe = new SqliteDatabase(':memory:');
  const statementProto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
  probe.close();
  for (const method of ['run', 'get', 'all', 'iterate'] as const) {
    const original = statementProto[method] as (this: { source: string }, ...args: unknown[]) => unknown;
    statementProto[method] = function wrapped(this: { source: string }, ...args: unknown[]): unknown {
      seen(this.source);
      return original.apply(this, args);
    };
  }
  const clientProto = pg.Client.prototype as unknown as Record<string, unknown>;
  const query = clientProto['query'] as (this: unknown, ...args: unknown[]) => unknown;
  clientProto['query'] = function wrapped(this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    if (typeof first === 'string') seen(first);
    else if (typeof first === 'object' && first !== null && 'text' in first) seen(String(first.text));
    return query.apply(this, args);
  };
  return {
    get count() {
      return count;
    },
    get traced() {
      return traced;
    },
    reset() {
      count = 0;
      traced = [];
    },
    trace(on: boolean) {
      tracing = on;
    },
  };
}
