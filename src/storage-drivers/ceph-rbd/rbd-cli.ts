/**
 * The `rbd` and `ceph` CLIs, run with `execFile` (no shell), time-limited, `--format json` where
 * there is output to read. No npm binding for librbd exists; a call costs about 60 ms.
 *
 * The connection is explicit on every call (`--mon-host`, `--id`) and no ceph.conf is read
 * (`--conf /dev/null`), so a host's `/etc/ceph` cannot redirect the driver. The cephx key never
 * appears on a command line (`ps` shows argv to every user): it goes through `--keyfile`, a 0600 file
 * in a 0700 folder made for the call and removed after it.
 *
 * The exit code of both CLIs is the errno; errors are mapped to messages that name the cause (no
 * such pool, wrong key, no monitor answering) and never carry the key.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monHostArg, type RbdMonitor } from '../../core/rbd-pool-url.ts';

export interface CephAccess {
  readonly monitors: readonly RbdMonitor[];
  readonly user: string;
  readonly key: string;
}

export interface CephCliOptions {
  /** Whole-call limit; default 60 s. */
  readonly timeoutMs?: number;
  /** How long to hunt for a monitor before giving up (`client_mount_timeout`); default 10 s. */
  readonly connectTimeoutMs?: number;
}

export const ERRNO = {
  ENOENT: 2,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ETIMEDOUT: 110,
} as const;

/** A failed CLI call; `errno` is the exit code (null when killed, e.g. by the time limit). */
export class CephCliError extends Error {
  override readonly name = 'CephCliError';
  constructor(
    message: string,
    readonly errno: number | null,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export class CephCli {
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(
    private readonly access: CephAccess,
    options: CephCliOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  rbd(args: readonly string[]): Promise<string> {
    return this.run('rbd', args);
  }

  ceph(args: readonly string[]): Promise<string> {
    return this.run('ceph', args);
  }

  /** Runs a `--format json` call and parses its output. */
  async json(tool: 'rbd' | 'ceph', args: readonly string[]): Promise<unknown> {
    const out = await this.run(tool, [...args, '--format', 'json']);
    try {
      return JSON.parse(out === '' ? 'null' : out);
    } catch {
      throw new CephCliError(`${tool} ${args[0] ?? ''} answered something that is not JSON`, null);
    }
  }

  private async run(tool: 'rbd' | 'ceph', args: readonly string[]): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'vmsnap-cephx-'));
    try {
      const keyfile = path.join(dir, 'key');
      await writeFile(keyfile, this.access.key, { mode: 0o600 });
      const connectS = Math.max(1, Math.ceil(this.connectTimeoutMs / 1000));
      const argv = [
        '--conf',
        '/dev/null',
        '--mon-host',
        monHostArg(this.access.monitors),
        '--id',
        this.access.user,
        '--keyfile',
        keyfile,
        '--client-mount-timeout',
        String(connectS),
        // Without these an operation on an unreachable OSD waits forever.
        '--rados-osd-op-timeout',
        String(Math.ceil(this.timeoutMs / 1000)),
        '--rados-mon-op-timeout',
        String(Math.ceil(this.timeoutMs / 1000)),
        ...args,
      ];
      return await new Promise<string>((resolve, reject) => {
        execFile(
          tool,
          argv,
          { timeout: this.timeoutMs + this.connectTimeoutMs, maxBuffer: 32 * 1024 * 1024 },
          (error, stdout, stderr) => {
            if (error === null) resolve(stdout);
            else reject(this.toError(tool, args, error, stderr));
          },
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private toError(
    tool: string,
    args: readonly string[],
    error: Error & { code?: unknown; killed?: boolean },
    stderr: string,
  ): CephCliError {
    const what = `${tool} ${args
      .filter((a) => !a.startsWith('-'))
      .slice(0, 3)
      .join(' ')}`;
    const errno = typeof error.code === 'number' ? error.code : null;
    if (errno === null && error.code === 'ENOENT')
      return new CephCliError(`${tool} is not installed (Debian package ceph-common)`, null);
    if (errno === null && error.killed === true)
      return new CephCliError(`${what} timed out after ${Math.round(this.timeoutMs / 1000)} s`, null);
    const mons = monHostArg(this.access.monitors);
    // Over msgr v2 a wrong key is not refused: the client hunts until the connect timeout, logging
    // handle_auth_bad_method (over v1 it exits with EACCES at once).
    if (errno === ERRNO.EACCES || (errno === ERRNO.ETIMEDOUT && stderr.includes('handle_auth_bad_method')))
      return new CephCliError(
        `Ceph refused client.${this.access.user} at ${mons}: cephx authentication failed (wrong key or user, or missing caps)`,
        ERRNO.EACCES,
      );
    const noConnection = stderr.includes("couldn't connect to the cluster");
    if (errno === ERRNO.EINVAL && noConnection)
      return new CephCliError(`the cephx key of client.${this.access.user} is not a valid key`, ERRNO.EINVAL);
    if (errno === ERRNO.ETIMEDOUT && noConnection)
      return new CephCliError(
        `no Ceph monitor answered at ${mons} within ${Math.round(this.connectTimeoutMs / 1000)} s`,
        ERRNO.ETIMEDOUT,
      );
    return new CephCliError(`${what} failed: ${this.cliMessage(stderr, errno)}`, errno);
  }

  /** The CLI's own message lines (`rbd: …`, `Error …`), without log noise and never with the key. */
  private cliMessage(stderr: string, errno: number | null): string {
    const lines = stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^\d{4}-\d\d-\d\dT/.test(l));
    const text = lines.slice(-3).join('; ') || `exit code ${errno ?? 'none'}`;
    return text.split(this.access.key).join('*****');
  }
}
