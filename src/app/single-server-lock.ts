/**
 * One management server per SQLite database (issue 12). SQLite serves one process well and several
 * not at all: a second server on the same data dir used to release the first one's job leases and
 * mark its running job Error. So a server on SQLite holds an exclusive lock for as long as it runs,
 * and a second one is refused at start, before it touches the database.
 *
 * Why SQLite's own exclusive locking on a separate lock file, rather than a pid file or a row with a
 * heartbeat: the lock is the operating system's (fcntl), held by the open connection and released by
 * the kernel when the process dies, however it dies (SIGKILL, OOM), so there is no stale pid to
 * judge, no pid reuse to be fooled by and no heartbeat to wait out after a crash. SQLite also tracks
 * its locks per file within one process, so a second App in the same process is refused too. It needs
 * nothing beyond better-sqlite3, which the store already uses.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { CloudRuntimeError } from '../core/errors.ts';

export interface ServerLock {
  release(): void;
}

/** The lock file beside a SQLite database file (`sqlite:<file>`); none for in-memory databases. */
export function lockFileFor(databaseUrl: string): string | undefined {
  if (!databaseUrl.startsWith('sqlite:')) return undefined;
  const file = databaseUrl.slice('sqlite:'.length);
  return file === ':memory:' ? undefined : `${file}.server-lock`;
}

/** Takes the lock or throws a message that says who holds it and what to do instead. */
export function acquireServerLock(lockFile: string, dataDir: string): ServerLock {
  // Private like every file of the data dir (SQLite keeps the mode of an existing file).
  if (existsSync(lockFile)) chmodSync(lockFile, 0o600);
  else closeSync(openSync(lockFile, 'a', 0o600));
  const db = new SqliteDatabase(lockFile, { timeout: 0 });
  try {
    // Exclusive mode keeps the lock from the first write until the connection closes; the journal
    // stays in memory (nothing in this file is worth a journal file beside it).
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since INTEGER NOT NULL)');
    db.exec('BEGIN EXCLUSIVE');
    db.prepare('DELETE FROM holder').run();
    db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, Date.now());
    db.exec('COMMIT');
  } catch (err) {
    db.close();
    if (isBusy(err))
      throw new CloudRuntimeError(
        `Another vmsnap management server is already running on the data dir ${dataDir} (its SQLite ` +
          `database is locked by that server). SQLite serves one management server: stop the other one, ` +
          `or share the work between several servers on PostgreSQL (VMSNAP_DATABASE_URL=postgres://…).`,
      );
    throw err;
  }
  return { release: () => db.close() };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
