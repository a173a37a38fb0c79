/**
 * Issue 9, item 6: the data dir holds API secret keys, agent tokens and the database key, so no other
 * local user may read anything in it: folders 0700 and files 0600 whatever the umask (explicit modes),
 * `vmsnap serve` under umask 077, and a data dir left looser by an older version narrowed at start.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seed } from '../../src/app/seed.ts';
import type { Logger } from '../../src/core/plugin-api.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';

const scratch = useScratchDirs('modes');

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

/** Every folder and file under `dir` (symlinks skipped) with a mode that lets group or others in. */
function looseEntries(dir: string): string[] {
  const loose: string[] = [];
  const walk = (path: string): void => {
    const info = lstatSync(path);
    if (info.isSymbolicLink()) return;
    if ((info.mode & 0o077) !== 0) loose.push(`${path} ${(info.mode & 0o777).toString(8)}`);
    if (info.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return loose;
}

function capturingLog(): { log: Logger; warnings: { obj: unknown; msg: string | undefined }[] } {
  const warnings: { obj: unknown; msg: string | undefined }[] = [];
  const quiet = (): void => undefined;
  const log: Logger = {
    info: quiet,
    debug: quiet,
    error: quiet,
    warn: (obj: unknown, msg?: string) => warnings.push({ obj, msg }),
  };
  return { log, warnings };
}

describe('files the server creates are private', () => {
  it('vmsnap serve: every folder under the data dir is 0700 and every file 0600, WAL and key included', async () => {
    const dataDir = join(scratch.dir(), 'data');
    await scratch.serve(dataDir).ready();

    // While it runs: the WAL and shared-memory files exist now.
    for (const file of ['config.json', 'vmsnap.db', 'vmsnap.db-wal', 'vmsnap.db-shm', 'secret.key'])
      expect(modeOf(join(dataDir, file)), file).toBe('600');
    expect(modeOf(dataDir)).toBe('700');
    expect(looseEntries(dataDir)).toEqual([]);
  });

  // The simulated zone lives in vmsnap.db (issue 12): there is no separate simulator state file.
  it('App.open under a permissive umask still creates the data dir, database, WAL and key privately', async () => {
    const previous = process.umask(0o002);
    try {
      const dataDir = join(scratch.dir(), 'nested', 'data');
      const app = await scratch.open(dataDir);
      await seed(app);
      expect(modeOf(dataDir)).toBe('700');
      for (const file of ['vmsnap.db', 'vmsnap.db-wal', 'secret.key'])
        expect(modeOf(join(dataDir, file)), file).toBe('600');
      expect(looseEntries(dataDir)).toEqual([]);
    } finally {
      process.umask(previous);
    }
  });
});

describe('an existing data dir with looser modes', () => {
  it('is narrowed at start (folders and files, nested too), with a warning naming what changed', async () => {
    const dataDir = join(scratch.dir(), 'data');
    mkdirSync(join(dataDir, 'simulator'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'simulator'), 0o775);
    writeFileSync(join(dataDir, 'config.json'), '{}');
    chmodSync(join(dataDir, 'config.json'), 0o644);
    writeFileSync(join(dataDir, 'notes.txt'), 'x');
    chmodSync(join(dataDir, 'notes.txt'), 0o664);
    // A symlink is not followed: the file it points to, outside the data dir, keeps its mode.
    const outside = join(scratch.dir(), 'outside.txt');
    writeFileSync(outside, 'x');
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(dataDir, 'link'));

    const { log, warnings } = capturingLog();
    await scratch.open(dataDir, { log });

    expect(looseEntries(dataDir)).toEqual([]);
    expect(modeOf(join(dataDir, 'config.json'))).toBe('600');
    expect(modeOf(join(dataDir, 'simulator'))).toBe('700');
    expect(modeOf(outside)).toBe('644');
    const narrowed = warnings.find((w) => w.msg?.includes('removed group and other access') === true);
    expect(narrowed?.obj).toMatchObject({ dataDir, count: 4 });
    expect((narrowed?.obj as { paths: string[] }).paths).toEqual(
      expect.arrayContaining([dataDir, join(dataDir, 'config.json'), join(dataDir, 'notes.txt')]),
    );
  });

  it('that is already private is left alone, without a warning', async () => {
    const dataDir = join(scratch.dir(), 'data');
    await scratch.stop(await scratch.open(dataDir));
    const { log, warnings } = capturingLog();
    await scratch.open(dataDir, { log });
    expect(warnings.filter((w) => w.msg?.includes('removed group and other access') === true)).toEqual([]);
  });
});
