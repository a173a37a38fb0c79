/**
 * The btrfs driver with real QEMU: bit-exact data on a two-disk VM (OS-less, written with HMP
 * qemu-io as the storage lab did), reverts refused while QEMU runs, deletes that spare the others.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type {
  DriverVolumeSnapshot,
  StorageSnapshotRef,
  VolumeInfo,
  VmSpecTO,
} from '../../src/core/plugin-api.ts';
import { describeBtrfs } from '../helpers/btrfs.ts';
import { describeQemu, writePattern } from '../qemu/helpers.ts';
import { openBtrfsHost, type BtrfsHost } from './btrfs-host.ts';

/** Pattern bytes: disk d holds `base + d` in its first MiB. */
const A = 0xa0;
const B = 0xb0;
const C = 0xc0;

/** Whether the disk file holds `pattern` in its first MiB (qemu-io, read-only, beside any QEMU). */
function holds(file: string, pattern: number): boolean {
  let out: string;
  try {
    out = execFileSync(
      'qemu-io',
      ['-r', '-U', '-f', 'qcow2', file, '-c', `read -P 0x${pattern.toString(16)} 0 1M`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
  } catch (error) {
    const stdout = (error as { stdout?: unknown }).stdout;
    out = typeof stdout === 'string' ? stdout : '';
  }
  return !out.includes('Pattern verification failed') && out.includes('read 1048576/1048576');
}

describeBtrfs('btrfs driver with real QEMU', () => {
  describeQemu('two-disk VM on a btrfs pool', () => {
    let host: BtrfsHost;
    let spec: VmSpecTO;
    let volumes: VolumeInfo[];
    beforeAll(async () => {
      host = await openBtrfsHost('qemu');
      ({ spec, volumes } = await host.createVm('btrfs-vm1', 2, 16));
    }, 60_000);
    afterAll(async () => host?.close(), 120_000);

    const qmp = () => host.agent.runningVm(spec.name)!.qmp;
    async function start(): Promise<void> {
      const answer = await host.agent.execute({ kind: 'StartVM', vm: spec });
      expect(answer).toMatchObject({ result: true });
    }
    async function stop(): Promise<void> {
      expect(await host.agent.execute({ kind: 'StopVM', vmName: spec.name, force: false })).toMatchObject({
        result: true,
      });
    }
    async function writeAll(base: number): Promise<void> {
      for (const v of volumes) await writePattern(qmp(), v.deviceId, base + v.deviceId, '0', '1M');
    }
    function snapshotFiles(taken: readonly DriverVolumeSnapshot[]): string[] {
      // <pool>/snaps/<vm>@<snapshot>/<file>: where the agent keeps the read-only copy.
      return volumes.map((v) => {
        const [snapshot, file] = taken.find((t) => t.volumeId === v.id)!.ref.split('/');
        return path.join(host.pool.path, 'snaps', `${spec.name}@${snapshot}`, file!);
      });
    }
    const ref = (name: string): StorageSnapshotRef => ({ id: randomUUID(), name, vmId: spec.name });

    it('keeps every disk bit-exact across snapshots, reverts and a delete', async () => {
      await start();
      await writeAll(A);
      const first = await host.driver.takeVmSnapshot(volumes, ref('first'));
      expect(await qmp().execute('query-status')).toMatchObject({ status: 'running' }); // cont after the cut
      await writeAll(B);
      const middle = await host.driver.takeVmSnapshot(volumes, ref('middle'));
      await writeAll(C);
      const last = await host.driver.takeVmSnapshot(volumes, ref('last'));

      // The cuts hold what was written before each, on both disks.
      for (const [i, file] of snapshotFiles(first.volumes).entries()) expect(holds(file, A + i)).toBe(true);
      for (const [i, file] of snapshotFiles(middle.volumes).entries()) expect(holds(file, B + i)).toBe(true);
      for (const [i, file] of snapshotFiles(last.volumes).entries()) expect(holds(file, C + i)).toBe(true);

      await stop();
      await host.driver.revertVmSnapshot(volumes, first.volumes);
      for (const v of volumes) expect(holds(v.path, A + v.deviceId)).toBe(true);
      for (const v of volumes) expect(holds(v.path, C + v.deviceId)).toBe(false); // the check can fail

      await host.driver.deleteVmSnapshot(volumes, middle.volumes);
      for (const v of volumes) {
        const refs = await host.driver.listVolumeSnapshots(v);
        expect(refs).toEqual([first, last].map((t) => t.volumes.find((p) => p.volumeId === v.id)!.ref));
      }
      for (const [i, file] of snapshotFiles(first.volumes).entries()) expect(holds(file, A + i)).toBe(true);
      for (const [i, file] of snapshotFiles(last.volumes).entries()) expect(holds(file, C + i)).toBe(true);

      await host.driver.revertVmSnapshot(volumes, last.volumes);
      for (const v of volumes) expect(holds(v.path, C + v.deviceId)).toBe(true);

      // The reverted subvolume is what QEMU runs on next: it reads C and writes on.
      await start();
      await writeAll(A);
      await stop();
      for (const v of volumes) expect(holds(v.path, A + v.deviceId)).toBe(true);
      for (const [i, file] of snapshotFiles(last.volumes).entries()) expect(holds(file, C + i)).toBe(true);
    }, 180_000);

    it('refuses a revert while QEMU runs, up front, and changes nothing', async () => {
      await start();
      await writeAll(A);
      const taken = await host.driver.takeVmSnapshot(volumes, ref('before-run'));
      await writeAll(B);
      for (const v of volumes) {
        const check = await host.driver.canRevert(
          v,
          taken.volumes.find((t) => t.volumeId === v.id)!,
        );
        expect(check).toMatchObject({ ok: false, blockers: [] });
        expect(check.ok === false && check.reason).toMatch(/running/);
      }
      // The agent refuses it too, whoever asks.
      const [snapshot] = taken.volumes[0]!.ref.split('/');
      const answer = await host.agent.execute({
        kind: 'StorageSubvolumeRestore',
        poolPath: host.pool.path,
        subvolume: spec.name,
        snapshot: snapshot!,
      });
      expect(answer).toMatchObject({ result: false, details: expect.stringMatching(/running/) });
      // A VM paused by someone else is cut without being continued behind their back.
      await qmp().execute('stop');
      const paused = await host.driver.takeVmSnapshot(volumes, ref('while-paused'));
      expect(await qmp().execute('query-status')).toMatchObject({ status: 'paused' });
      await stop();
      for (const v of volumes) expect(holds(v.path, B + v.deviceId)).toBe(true);
      await host.driver.deleteVmSnapshot(volumes, taken.volumes);
      await host.driver.deleteVmSnapshot(volumes, paused.volumes);
    }, 120_000);
  });
});
