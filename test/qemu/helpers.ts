/**
 * Shared set-up for the real-QEMU tests: skip (or, in CI, fail) without QEMU, scratch dirs, the tiny
 * guest, and qemu-io patterns over QMP.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import type { QmpClient } from '../../src/hypervisors/qemu/qmp-client.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The binary runs (`<name> --version` succeeds). */
export function hasBinary(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const qemuAvailable = hasBinary('qemu-system-x86_64') && hasBinary('qemu-img');

/**
 * `describe`, or `describe.skip` with the reason when QEMU is missing. In CI a missing QEMU is a
 * failure, never a skip: the suite would otherwise pass without testing anything.
 */
export function describeQemu(name: string, fn: () => void): void {
  if (qemuAvailable) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs QEMU (apt-get install --no-install-recommends qemu-system-x86 qemu-utils)', () => {
        expect.fail('qemu-system-x86_64 / qemu-img not found, and CI=true: QEMU tests must run in CI');
      });
    });
  } else {
    describe.skip(`${name} (skipped: qemu-system-x86_64 or qemu-img not installed)`, fn);
  }
}

export function scratchDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vmsnap-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The tiny Linux guest with qemu-ga, built once per run by test/setup/test-guest.ts (vitest
 * globalSetup). Outside such a run this builds it here: the script takes a lock, so concurrent
 * callers wait for one build instead of racing it.
 */
export function testGuest(): { kernel: string; initrd: string } {
  const provided = inject('testGuest');
  if (provided !== null && 'error' in provided) throw new Error(provided.error);
  if (provided !== null) return provided;
  execFileSync(path.join(repoRoot, 'scripts/build-test-guest.sh'), { stdio: 'ignore', timeout: 900_000 });
  const cache = path.join(repoRoot, '.guest-cache');
  return { kernel: path.join(cache, 'vmlinuz'), initrd: path.join(cache, 'initrd.gz') };
}

/** Runs one qemu-io command against a disk of a running VM (no guest OS needed). */
export async function qemuIo(qmp: QmpClient, deviceId: number, command: string): Promise<string> {
  const out = await qmp.execute('human-monitor-command', {
    'command-line': `qemu-io -d /machine/peripheral/vd${deviceId}/virtio-backend "${command}"`,
  });
  return String(out);
}

/** Writes `len` bytes of `pattern` at `offset` through the running VM's own block layer. */
export async function writePattern(
  qmp: QmpClient,
  deviceId: number,
  pattern: number,
  offset: string,
  len: string,
) {
  await qemuIo(qmp, deviceId, `write -P 0x${pattern.toString(16)} ${offset} ${len}`);
}

/** The file at the top of a disk's chain in a running VM (from query-block). */
export async function activeFile(qmp: QmpClient, deviceId: number): Promise<string> {
  const blocks = (await qmp.execute('query-block')) as { qdev?: string; inserted?: { file?: string } }[];
  const entry = blocks.find((b) => b.qdev === `/machine/peripheral/vd${deviceId}/virtio-backend`);
  if (!entry?.inserted?.file) throw new Error(`disk vd${deviceId} not found in query-block`);
  return entry.inserted.file;
}

/**
 * True when every byte of the range holds `pattern`. HMP qemu-io prints to QEMU's stdout (gone with
 * -daemonize), so: flush the disk inside QEMU, then check the chain with the qemu-io binary (`-U`:
 * shared read of an image the VM holds), whose exit status reports a pattern mismatch.
 */
export async function hasPattern(
  qmp: QmpClient,
  deviceId: number,
  pattern: number,
  offset: string,
  len: string,
) {
  await qemuIo(qmp, deviceId, 'flush');
  return filePattern(await activeFile(qmp, deviceId), pattern, offset, len, true);
}

/** Pattern check on an image chain that no VM is running (or with `shared`, one it holds). */
export function filePattern(
  file: string,
  pattern: number,
  offset: string,
  len: string,
  shared = false,
): boolean {
  try {
    const out = execFileSync(
      'qemu-io',
      [
        ...(shared ? ['-U'] : []),
        '-r',
        '-f',
        'qcow2',
        '-c',
        `read -P 0x${pattern.toString(16)} ${offset} ${len}`,
        file,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return !/Pattern verification failed/.test(out) && /read \d+\/\d+ bytes/.test(out);
  } catch {
    return false;
  }
}
