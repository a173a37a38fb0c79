/**
 * Whether the management database answers: what `/health` reports, so a load balancer (HAProxy's
 * `option httpchk GET /health`) takes a server that lost its database out of rotation.
 */
import { sql } from 'kysely';
import type { Db } from './database.ts';

export type DatabaseHealth =
  | { readonly reachable: true; readonly latencyMs: number }
  | { readonly reachable: false; readonly error: string };

/** One `SELECT 1`, given up after `timeoutMs` (a dead PostgreSQL can leave a connect hanging). */
export async function pingDatabase(db: Db, timeoutMs: number): Promise<DatabaseHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([sql`SELECT 1`.execute(db), timeout]);
    return { reachable: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { reachable: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
