/**
 * Issue 9, item 6: the data dir holds API secret keys, agent tokens and the database key, so no other
 * local user may read anything in it: folders 0700 and files 0600 whatever the umask (explicit modes),
 * `vmsnap serve` under umask 077, and a data dir left looser by an older version narrowed at start.
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { seed } from '../../src/app/seed.ts';
import type { Logger } from '../../src/core/plugin-api.ts';
import { startServe, type ServeRun } from '../helpers/serve-process.ts';
import { quietLog } from '../helpers/test-app.ts';

const dirs: string[] = [];
const apps: App[] = [];
const runs: ServeRun[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.stop();
  for (const app of apps.splice(0)) await app.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-modes-'));
  dirs.push(dir);
  return dir;
}

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

async function open(dir: string, log: Logger = quietLog): Promise<App> {
  const app = await App.open({ config: loadConfig(dir, { plugins: [] }), log });
  apps.push(app);
  return app;
}

describe('files the server creates are private', () => {
  it('vmsnap serve: every folder under the data dir is 0700 and every file 0600, WAL and key included', async () => {
    const dataDir = join(tempDir(), 'data');
    const run = startServe(dataDir);
    runs.push(run);
    await run.ready();

    // While it runs: the WAL and shared-memory files exist now.
    for (const file of ['config.json', 'vmsnap.db', 'vmsnap.db-wal', 'vmsnap.db-shm', 'secret.key'])
      expect(modeOf(join(dataDir, file)), file).toBe('600');
    expect(modeOf(join(dataDir, 'simulator', 'world.db'))).toBe('600');
    expect(modeOf(dataDir)).toBe('700');
    expect(looseEntries(dataDir)).toEqual([]);
  });

  it('App.open under a permissive umask still creates the data dir, database, WAL, key and simulator state privately', async () => {
    const previous = process.umask(0o002);
    try {
      const dataDir = join(tempDir(), 'nested', 'data');
      const app = await open(dataDir);
      await seed(app);
      expect(modeOf(dataDir)).toBe('700');
      for (const file of ['vmsnap.db', 'vmsnap.db-wal', 'secret.key', join('simulator', 'world.db')])
        expect(modeOf(join(dataDir, file)), file).toBe('600');
      expect(looseEntries(dataDir)).toEqual([]);
    } finally {
      process.umask(previous);
    }
  });
});

describe('an existing data dir with looser modes', () => {
  it('is narrowed at start (folders and files, nested too), with a warning naming what changed', async () => {
    const dataDir = join(tempDir(), 'data');
    mkdirSync(join(dataDir, 'simulator'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'simulator'), 0o775);
    writeFileSync(join(dataDir, 'config.json'), '{}');
    chmodSync(join(dataDir, 'config.json'), 0o644);
    writeFileSync(join(dataDir, 'notes.txt'), 'x');
    chmodSync(join(dataDir, 'notes.txt'), 0o664);
    // A symlink is not followed: the file it points to, outside the data dir, keeps its mode.
    const outside = join(tempDir(), 'outside.txt');
    writeFileSync(outside, 'x');
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(dataDir, 'link'));

    const { log, warnings } = capturingLog();
    await open(dataDir, log);

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
    const dataDir = join(tempDir(), 'data');
    await (await open(dataDir)).stop();
    apps.splice(0);
    const { log, warnings } = capturingLog();
    await open(dataDir, log);
    expect(warnings.filter((w) => w.msg?.includes('removed group and other access') === true)).toEqual([]);
  });
});
