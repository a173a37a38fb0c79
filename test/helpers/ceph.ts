/**
 * A throwaway Ceph for tests: scripts/ceph-up.sh (1 mon + 1 memstore OSD, cephx, pool `rbd`, about
 * 1.5 s) in a scratch dir, one cluster per test file, torn down by scripts/ceph-down.sh. Without the
 * Ceph packages the tests skip locally with the reason, and fail in CI (`CI=true`), which installs
 * them (.ci/run).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const scripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts');

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why Ceph tests cannot run here, or null when they can. */
function missing(): string | null {
  const tools = ['ceph-mon', 'ceph-osd', 'ceph-authtool', 'monmaptool', 'rbd', 'ceph', 'rados'];
  const absent = tools.filter((t) => !runs('which', [t]));
  if (absent.length > 0)
    return `${absent.join(', ')} not installed (apt-get install --no-install-recommends ceph-mon ceph-osd ceph-common)`;
  // Pitfall 11: the python3 on PATH may be a shim without the Ceph bindings.
  if (!runs('/usr/bin/python3', ['-c', 'import rados, rbd']))
    return '/usr/bin/python3 cannot import rados and rbd (Debian python3-rados python3-rbd)';
  return null;
}

export const cephMissing = missing();

/** `describe`, or `describe.skip` with the reason; in CI missing Ceph packages fail. */
export function describeCeph(name: string, fn: () => void): void {
  if (cephMissing === null) {
    // Every Ceph call is a process (~60 ms idle, far more on a busy CI box): a roomy ceiling.
    describe(name, { timeout: 180_000 }, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Ceph (ceph-mon, ceph-osd, ceph-common)', () => {
        expect.fail(`${cephMissing}, and CI=true: Ceph tests must run in CI`);
      });
    });
  } else {
    console.warn(`Ceph tests skipped: ${cephMissing}`);
    describe.skip(`${name} (skipped: ${cephMissing})`, fn);
  }
}

export interface TestCeph {
  readonly dir: string;
  readonly conf: string;
  /** The monitor as an rbd:// url names it (host:port). */
  readonly monHost: string;
  readonly adminKey: string;
  readonly pool: string;
  /** The pool's quota: the capacity the driver reports without a mgr. */
  readonly capacityBytes: number;
  /** CloudStack's RBD url; every part can be overridden to make a wrong one. */
  url(parts?: { user?: string; key?: string; monHost?: string; pool?: string }): string;
  /** Runs `rbd` as client.admin with the cluster's conf (test-side setup and checks). */
  rbd(args: readonly string[]): Promise<string>;
  /** Opens an image with librbd in a python process (a watcher, as QEMU holds one); close() ends it. */
  holdOpen(image: string): Promise<{ close(): Promise<void> }>;
  down(): void;
}

export function startCeph(label: string): TestCeph {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vmsnap-ceph-${label}-`));
  const cephDir = path.join(dir, 'ceph');
  const env = { ...process.env, CEPH_DIR: cephDir, OSD_SIZE_MB: '512' };
  execFileSync(path.join(scripts, 'ceph-up.sh'), { env, stdio: 'ignore', timeout: 120_000 });
  const vars = Object.fromEntries(
    readFileSync(path.join(cephDir, 'fixture.env'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const conf = vars['CEPH_CONF']!;
  const base = {
    user: 'admin',
    key: vars['CEPH_ADMIN_KEY']!,
    monHost: vars['CEPH_MON_HOST']!,
    pool: vars['CEPH_POOL']!,
  };
  const rbd = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('rbd', ['--conf', conf, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`rbd ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
      );
    });
  return {
    dir: cephDir,
    conf,
    monHost: base.monHost,
    adminKey: base.key,
    pool: base.pool,
    capacityBytes: Number(vars['CEPH_CAPACITY_BYTES']),
    url: (parts = {}) => {
      const p = { ...base, ...parts };
      return `rbd://${p.user}:${encodeURIComponent(p.key)}@${p.monHost}/${p.pool}`;
    },
    rbd,
    holdOpen: (image) => holdOpen(conf, base.pool, image),
    down: () => {
      execFileSync(path.join(scripts, 'ceph-down.sh'), { env, stdio: 'ignore', timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const HOLD_OPEN = `
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect()
io = c.open_ioctx(sys.argv[2]); img = rbd.Image(io, sys.argv[3])
print("open", flush=True)
sys.stdin.read()
img.close(); io.close(); c.shutdown()
`;

/** Resolves once librbd has the image open (and so holds its watch). */
function holdOpen(conf: string, pool: string, image: string): Promise<{ close(): Promise<void> }> {
  const child: ChildProcess = spawn('/usr/bin/python3', ['-c', HOLD_OPEN, conf, pool, image], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) =>
      reject(new Error(`python3-rbd exited (${code}) before opening ${image}: ${err}`)),
    );
    child.stdout?.on('data', (d: Buffer) => {
      if (!d.toString().includes('open')) return;
      resolve({
        close: async () => {
          child.stdin?.end();
          await exited;
        },
      });
    });
  });
}
