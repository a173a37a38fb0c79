/**
 * When the QEMU+RBD tests run: Ceph (the shared fixture, test/helpers/ceph.ts), QEMU, and QEMU's
 * rbd block driver (Debian `qemu-block-extra`). Skipped locally with the reason when one is
 * missing; in CI (`CI=true`) a missing one fails.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cephMissing } from '../helpers/ceph.ts';
import { qemuAvailable } from '../qemu/helpers.ts';

const RBD_BLOCK_MODULES = [
  '/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so',
  '/usr/lib/qemu/block-rbd.so',
  '/usr/lib64/qemu/block-rbd.so',
];

function missing(): string | null {
  if (cephMissing !== null) return cephMissing;
  if (!qemuAvailable) return 'qemu-system-x86_64 / qemu-img not installed';
  if (!RBD_BLOCK_MODULES.some((f) => existsSync(f)))
    return "QEMU's rbd block driver not installed (apt-get install --no-install-recommends qemu-block-extra)";
  return null;
}

const why = missing();

export function describeCeph(name: string, fn: () => void): void {
  if (why === null) describe(name, fn);
  else if (process.env.CI === 'true')
    describe(name, () => {
      it('needs Ceph, QEMU and qemu-block-extra', () => {
        expect.fail(`${why}, and CI=true: the QEMU+RBD tests must run in CI`);
      });
    });
  else describe.skip(`${name} (skipped: ${why})`, fn);
}
