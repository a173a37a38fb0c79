/**
 * `vmsnap api listApis | head`: once the reader has what it wants it closes the pipe, and the next
 * write fails with EPIPE. Node ignores SIGPIPE and raises the failure as an 'error' event on stdout,
 * which, unheard, kills the process with a stack trace. A closed reader is the reader's choice, not
 * a failure of ours: exit quietly, as `cat` or `grep` would.
 */
export interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

const guarded = new WeakSet<ErrorEmitter>();

/**
 * Installed by the client commands only (see context.ts), once per stream: `vmsnap serve` and
 * `vmsnap agent` keep failing loudly, so a supervisor restarts a server whose log pipe broke.
 */
export function exitQuietlyOnEpipe(
  stdout: ErrorEmitter = process.stdout,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  if (guarded.has(stdout)) return;
  guarded.add(stdout);
  stdout.on('error', (err) => {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return exit(0);
    // Any other write failure (a full disk behind a redirect) is a real error: fail as before.
    throw err;
  });
}
