/**
 * The data dir holds the database (API secret keys, agent tokens), the database key, config.json
 * and simulator state: only the server's user may enter it. It is created 0700; on every start an
 * existing one is narrowed (no group or other access on any folder or file under it), so a data dir
 * left 0755/0644 by an older version or a careless copy is fixed, and the fix is logged.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/plugin-api.ts';

/** A bound on the walk: a data dir is small, and a start must not hang on a huge tree. */
const MAX_ENTRIES = 100_000;

export function preparePrivateDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const narrowed: string[] = [];
  const failed: string[] = [];
  narrowTree(dir, narrowed, failed, { left: MAX_ENTRIES });
  if (narrowed.length > 0)
    log.warn(
      { dataDir: dir, count: narrowed.length, paths: narrowed.slice(0, 20) },
      'removed group and other access from the data dir (folders 0700, files 0600)',
    );
  if (failed.length > 0)
    log.warn({ dataDir: dir, paths: failed.slice(0, 20) }, 'could not narrow access under the data dir');
}

/** Depth first; symlinks are neither followed nor changed (chmod would act on their target). */
function narrowTree(path: string, narrowed: string[], failed: string[], budget: { left: number }): void {
  if (budget.left-- <= 0) return;
  const info = lstatSync(path, { throwIfNoEntry: false });
  if (info === undefined || info.isSymbolicLink()) return;
  const mode = info.mode & 0o7777;
  if ((mode & 0o077) !== 0) {
    try {
      chmodSync(path, mode & ~0o077);
      narrowed.push(path);
    } catch {
      failed.push(path);
    }
  }
  if (!info.isDirectory()) return;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    failed.push(path);
    return;
  }
  for (const name of names) narrowTree(join(path, name), narrowed, failed, budget);
}
