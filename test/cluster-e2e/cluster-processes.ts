/**
 * The processes of a multi-server deployment, for end-to-end tests: `vmsnap serve` on fixed free
 * ports sharing one PostgreSQL database, HAProxy with the repository's config in front, and the
 * `cs` CloudStack client (Debian python3-cs). Waits on output and conditions, never on time alone.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, '../..');
export const HAPROXY_CONFIG = join(REPO, 'deploy/haproxy/haproxy.cfg');
/** Debian's python3-cs lives in the system Python, whatever `python3` is first on the PATH. */
const SYSTEM_PYTHON = '/usr/bin/python3';
/** Upper bound of one start on a busy CI machine; the wait ends as soon as the server is up. */
const START_BOUND_MS = 90_000;

/** The first of `candidates` that exists, else a `which` lookup; undefined when absent. */
function findHaproxy(): string | undefined {
  for (const path of ['/usr/sbin/haproxy', '/usr/bin/haproxy']) if (existsSync(path)) return path;
  try {
    return execFileSync('which', ['haproxy'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function hasCsClient(): boolean {
  try {
    execFileSync(SYSTEM_PYTHON, ['-c', 'import cs'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the HAProxy recipe cannot be tested here, or undefined. Throws in CI: .ci/run installs them. */
export function clusterToolsUnavailable(): string | undefined {
  const missing = [
    ...(findHaproxy() === undefined ? ['haproxy'] : []),
    ...(hasCsClient() ? [] : ['python3-cs']),
  ];
  if (missing.length === 0) return undefined;
  if (process.env['CI'] === 'true')
    throw new Error(`${missing.join(', ')} missing in CI: .ci/run must install them`);
  const reason = `cluster e2e tests skipped: apt-get install ${missing.join(' ')}`;
  console.warn(reason);
  return reason;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** What every server of one deployment shares: database, database key, admin keys. */
export interface ClusterSecrets {
  readonly databaseUrl: string;
  readonly databaseKey: string;
  readonly apiKey: string;
  readonly secretKey: string;
}

export function clusterSecrets(databaseUrl: string): ClusterSecrets {
  return {
    databaseUrl,
    databaseKey: randomBytes(32).toString('hex'),
    apiKey: randomBytes(24).toString('base64url'),
    secretKey: randomBytes(24).toString('base64url'),
  };
}

export interface RunningProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function track(proc: ChildProcess): RunningProcess {
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  return { proc, exited, output: () => out };
}

/** `vmsnap serve` on `port`, its own data dir, the shared database; resolves once it serves. */
export async function startServer(port: number, secrets: ClusterSecrets): Promise<RunningProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmsnap-cluster-'));
  const proc = spawn(
    process.execPath,
    [join(REPO, 'bin/vmsnap.js'), 'serve', '--port', String(port), '--data-dir', dataDir],
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        VMSNAP_LOG_LEVEL: 'warn',
        VMSNAP_DATABASE_URL: secrets.databaseUrl,
        VMSNAP_DATABASE_KEY: secrets.databaseKey,
        VMSNAP_ADMIN_API_KEY: secrets.apiKey,
        VMSNAP_ADMIN_SECRET_KEY: secrets.secretKey,
      },
    },
  );
  const server = track(proc);
  await until(
    () => server.output().includes('vmsnap is running'),
    server,
    `vmsnap serve on port ${port} to start`,
  );
  return server;
}

/** HAProxy in the foreground with the repository's config, the addresses in its environment. */
export async function startHaproxy(lbPort: number, serverPorts: readonly number[]): Promise<RunningProcess> {
  const haproxy = findHaproxy();
  if (haproxy === undefined) throw new Error('haproxy is not installed');
  const env: NodeJS.ProcessEnv = { ...process.env, VMSNAP_LB_BIND: `127.0.0.1:${lbPort}` };
  serverPorts.forEach((port, i) => (env[`VMSNAP_SERVER${i + 1}`] = `127.0.0.1:${port}`));
  const lb = track(spawn(haproxy, ['-db', '-f', HAPROXY_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  await until(
    async () => (await healthOf(`http://127.0.0.1:${lbPort}`))?.status === 200,
    lb,
    'HAProxy to answer',
  );
  return lb;
}

export async function healthOf(base: string): Promise<{ status: number; body: unknown } | undefined> {
  try {
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.json() };
  } catch {
    return undefined;
  }
}

/** One `cs` command (waits for async jobs as cs does); its JSON answer. */
export async function cs(
  endpoint: string,
  secrets: ClusterSecrets,
  command: string,
  args: Readonly<Record<string, string>> = {},
): Promise<Record<string, unknown>> {
  const home = mkdtempSync(join(tmpdir(), 'vmsnap-cs-home-'));
  const { stdout } = await run(
    SYSTEM_PYTHON,
    ['-m', 'cs', command, ...Object.entries(args).map(([k, v]) => `${k}=${v}`)],
    {
      timeout: 180_000,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        CLOUDSTACK_ENDPOINT: `${endpoint}/client/api`,
        CLOUDSTACK_KEY: secrets.apiKey,
        CLOUDSTACK_SECRET: secrets.secretKey,
      },
    },
  );
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** Polls `probe` until true; fails early if `process` exits, and after the start bound. */
async function until(
  probe: () => boolean | Promise<boolean>,
  process: RunningProcess,
  what: string,
): Promise<void> {
  const deadline = performance.now() + START_BOUND_MS;
  let exited = false;
  void process.exited.then(() => (exited = true));
  for (;;) {
    if (await probe()) return;
    if (exited) throw new Error(`${what}: the process exited: ${process.output().slice(-2000)}`);
    if (performance.now() > deadline)
      throw new Error(`no ${what} within ${START_BOUND_MS} ms: ${process.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** SIGKILL (no chance to hand anything back), then waits until it is gone. */
export async function killHard(p: RunningProcess): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await p.exited;
}

export async function stop(p: RunningProcess): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
  await p.exited;
}
