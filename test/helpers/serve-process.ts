/**
 * `vmsnap serve --port 0` as a real child process (its own umask, working directory and environment),
 * for tests of what a start does to the data dir and prints. Waits on output, never on time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
/** An upper bound for a start on a busy CI machine; the wait ends as soon as the banner is out. */
const START_BOUND_MS = 60_000;

export interface ServeRun {
  readonly proc: ChildProcess;
  /** The exit code once the process is gone and its output read. */
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Resolves once the banner is printed; rejects if the process exits first. */
  ready(): Promise<string>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Working directory (default: the repository). */
  readonly cwd?: string;
  /** Added to this process's environment (VMSNAP_LOG_LEVEL is `warn` unless given here). */
  readonly env?: NodeJS.ProcessEnv;
  /** The port to listen on (default 0: any free port). */
  readonly port?: number;
}

export function startServe(dataDir: string, opts: ServeOptions = {}): ServeRun {
  const proc = spawn(
    process.execPath,
    [join(REPO, 'bin/vmsnap.js'), 'serve', '--port', String(opts.port ?? 0), '--data-dir', dataDir],
    {
      cwd: opts.cwd ?? REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VMSNAP_LOG_LEVEL: 'warn', ...opts.env },
    },
  );
  let out = '';
  let err = '';
  // 'close': the process is gone and its output fully read.
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  const bannerOut = new Promise<string>((res, rej) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('vmsnap is running')) res(out);
    });
    void exited.then((code) => rej(new Error(`vmsnap serve exited (${code}) before its banner: ${err}`)));
  });
  bannerOut.catch(() => undefined);
  proc.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return {
    proc,
    exited,
    stdout: () => out,
    stderr: () => err,
    ready: () => withBound(bannerOut, 'the serve banner'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs serve to its exit (a start that must be refused): exit code and stderr. */
export async function serveUntilExit(
  dataDir: string,
  opts: ServeOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startServe(dataDir, opts);
  const code = await withBound(run.exited, 'vmsnap serve to exit').catch(async (e: unknown) => {
    await run.stop();
    throw e;
  });
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

function withBound<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no ${what} within ${START_BOUND_MS} ms`)), START_BOUND_MS);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
