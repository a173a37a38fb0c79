/**
 * Files the server obeys or runs (config.json, plugin modules, the database key) must be out of
 * other local users' reach: a user who can rewrite config.json or a plugin file, or replace it in
 * its folder, runs code as the server (often root). Like ssh's StrictModes, a file or folder is
 * trusted only when it is owned by root or by the user the server runs as, and nobody else can
 * write it.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/** Refuses `path` and its folder (and the real file's folder, if `path` is a symlink) unless trusted. */
export function assertTrustedFile(path: string, what: string): void {
  assertTrusted(path, what);
  const folders = new Set([dirname(path), dirname(realpathSync(path))]);
  for (const folder of folders) assertTrusted(folder, `the folder of ${what}`);
}

/** Like {@link assertTrustedFile}, and nobody else may read it either (a key file). */
export function assertPrivateFile(path: string, what: string): void {
  assertTrustedFile(path, what);
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new Error(
      `refusing to use ${what} ${path}: group or others can access it (mode ${octal(mode)}); run chmod 600 ${path}`,
    );
}

export function assertTrusted(path: string, what: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return; // no POSIX owners (Windows)
  const info: Stats = statSync(path);
  if (info.uid !== 0 && info.uid !== uid)
    throw new Error(
      `refusing to use ${what} ${path}: it is owned by uid ${info.uid}, not by root or the server's user (uid ${uid})`,
    );
  const mode = info.mode & 0o7777;
  if ((mode & 0o022) !== 0)
    throw new Error(
      `refusing to use ${what} ${path}: group or others can write it (mode ${octal(mode)}); run chmod go-w ${path}`,
    );
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
