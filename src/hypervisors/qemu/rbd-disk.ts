/**
 * # RBD disks on a QEMU host
 *
 * A volume on a `ceph-rbd` pool is an RBD image, not a file: QEMU opens it with its rbd block driver
 * (Debian `qemu-block-extra`, librbd in user space, no kernel module), and the agent creates and
 * removes images with the `rbd` CLI. The pool connection comes with the volume (`VolumeTO.pool`, url
 * in CloudStack's form `rbd://<user>:<url-encoded key>@<mon host:port>[,…]/<pool>`).
 *
 * The cephx key never appears on a command line (`ps` shows argv to every user): the `rbd` CLI reads
 * it from a 0600 `--keyfile` made for the call and removed after it; QEMU gets it as a secret object
 * read from a 0600 file (`-object secret,file=…`), removed once QEMU has started. No ceph.conf is
 * read (`-c /dev/null`; QEMU ignores a missing default one): monitors, user and key are all explicit,
 * so whatever `/etc/ceph` or `$CEPH_CONF` says on the host cannot redirect a VM's disks.
 *
 * The volume's `path` is the image name inside the pool (as CloudStack records RBD volumes).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { VolumePoolTO } from '../../core/plugin-api.ts';
import { parseRbdPoolUrl, type RbdConnection } from './agent-protocol/rbd-connection.ts';
import { monHostArg } from '../../core/rbd-pool-url.ts';
import { PRIVATE_FILE_MODE } from './private-files.ts';

export const RBD_PROVIDER = 'ceph-rbd';

/** What the agent keeps about one RBD disk (in its 0600 state file, like the rest of a VM). */
export interface RbdDisk extends RbdConnection {
  readonly image: string;
}

/** True for a volume whose pool is an RBD pool. */
export function isRbdPool(pool: VolumePoolTO | undefined): pool is VolumePoolTO {
  return pool?.provider === RBD_PROVIDER;
}

/** The RBD disk a volume names; the schema has checked the url, so a parse failure is a bug. */
export function rbdDiskOf(pool: VolumePoolTO, image: string): RbdDisk {
  const parsed = parseRbdPoolUrl(pool.url);
  if (!parsed.ok) throw new Error(parsed.why);
  return { ...parsed.value, image };
}

/** `-m` for the rbd CLI: `host:port,host:port`, IPv6 hosts in brackets. */
export function monHost(disk: RbdConnection): string {
  return monHostArg(disk.monitors);
}

const RBD_TIMEOUT_MS = 60_000;
/** How long `rbd` may try to reach and authenticate with the monitors. */
const MOUNT_TIMEOUT_S = 10;

/** Exit code of `rbd` for "no such image" (ENOENT). */
const ENOENT = 2;

export class RbdCliError extends Error {
  override readonly name = 'RbdCliError';
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/**
 * Runs `rbd <args>` against the disk's cluster. The key goes through a 0600 keyfile in `keyDir`
 * (the agent's private run dir), removed whatever happens.
 */
export async function rbdCli(
  conn: RbdConnection,
  keyDir: string,
  args: readonly string[],
  timeoutMs = RBD_TIMEOUT_MS,
): Promise<string> {
  const keyFile = path.join(keyDir, `rbd-${randomBytes(6).toString('hex')}.key`);
  await writeFile(keyFile, conn.key, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    // A wrong key or an unreachable monitor would otherwise retry for 300 s (client_mount_timeout).
    const base = [
      ...['-c', '/dev/null', '-m', monHost(conn), '--id', conn.user, '--keyfile', keyFile],
      ...['--client_mount_timeout', String(MOUNT_TIMEOUT_S)],
    ];
    return await new Promise((resolve, reject) => {
      execFile('rbd', [...base, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const code = typeof error.code === 'number' ? error.code : null;
        // librados echoes a key it cannot decode ("failed to decode key '…'"): never pass it on.
        const why = (stderr.trim() || error.message).replaceAll(conn.key, '[key]');
        reject(new RbdCliError(`rbd ${args[0] ?? ''} failed: ${why}`, code));
      });
    });
  } finally {
    await rm(keyFile, { force: true });
  }
}

function spec(disk: RbdDisk): string {
  return `${disk.pool}/${disk.image}`;
}

/** Creates the image (thin); fails when it exists. */
export async function createImage(disk: RbdDisk, sizeBytes: number, keyDir: string): Promise<void> {
  await rbdCli(disk, keyDir, ['create', '--size', `${Math.ceil(sizeBytes / 1024)}K`, spec(disk)]);
}

/** Removes the image; an image already gone counts as removed. */
export async function removeImage(disk: RbdDisk, keyDir: string): Promise<void> {
  await rbdCli(disk, keyDir, ['rm', '--no-progress', spec(disk)]).catch((error: unknown) => {
    if (error instanceof RbdCliError && error.exitCode === ENOENT) return;
    throw error;
  });
}

/** The QEMU secret file of a disk at launch (its name carries no key material). */
export function secretFileOf(runDir: string, vmName: string, deviceId: number): string {
  return path.join(runDir, `${vmName}-vd${deviceId}.secret`);
}

/** Writes a disk's key for QEMU to read at start: 0600, replaced if left over from a crash. */
export async function writeSecretFile(file: string, disk: RbdDisk): Promise<void> {
  await rm(file, { force: true });
  await writeFile(file, disk.key, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
}
