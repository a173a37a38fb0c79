/**
 * Throwaway data dirs for tests that start the server on a data dir of their own, in process
 * (`App.open`) or as `vmsnap serve` (a child process). Whatever a test starts through it is stopped,
 * and every dir it made removed, after that test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { App, type AppOptions } from '../../src/app/app.ts';
import { loadConfig, type AppConfig } from '../../src/app/app-config.ts';
import { startServe, type ServeOptions, type ServeRun } from './serve-process.ts';
import { quietLog } from './test-app.ts';

export interface ScratchDirs {
  /** A new empty folder under the system temp dir. */
  dir(): string;
  /**
   * `App.open` on a data dir (its config with no plugins) or on a given config, quiet unless
   * `options.log` says otherwise. Not started: tests that need the job queue call `start()`.
   */
  open(target: string | AppConfig, options?: Partial<Omit<AppOptions, 'config'>>): Promise<App>;
  /** Stops an App before the test ends (to reopen its data dir). */
  stop(app: App): Promise<void>;
  /** `vmsnap serve --port 0` on `dataDir`, SIGTERMed after the test if still running. */
  serve(dataDir: string, options?: ServeOptions): ServeRun;
}

/** Call at the top of a test file (or describe): registers the after-each cleanup. */
export function useScratchDirs(prefix: string): ScratchDirs {
  const dirs: string[] = [];
  const apps: App[] = [];
  const runs: ServeRun[] = [];
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.stop();
    for (const app of apps.splice(0)) await app.stop();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir() {
      const dir = mkdtempSync(join(tmpdir(), `vmsnap-${prefix}-`));
      dirs.push(dir);
      return dir;
    },
    async open(target, options = {}) {
      const config = typeof target === 'string' ? loadConfig(target, { plugins: [] }) : target;
      const app = await App.open({ log: quietLog, ...options, config });
      apps.push(app);
      return app;
    },
    async stop(app) {
      const i = apps.indexOf(app);
      if (i === -1) return;
      apps.splice(i, 1);
      await app.stop();
    },
    serve(dataDir, options) {
      const run = startServe(dataDir, options);
      runs.push(run);
      return run;
    },
  };
}
