import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { create } from '../../src/hypervisors/qemu/qemu-img.ts';
import { QmpError, QmpJobError } from '../../src/hypervisors/qemu/qmp-client.ts';
import { startVmProcess, type RunningVm } from '../../src/hypervisors/qemu/vm-process.ts';
import { describeQemu, hasPattern, scratchDir, writePattern } from './helpers.ts';

describeQemu('QMP client against a real QEMU (OS-less VM, TCG)', () => {
  const scratch = scratchDir('qmp');
  let vm: RunningVm;

  beforeAll(async () => {
    const disk = path.join(scratch.dir, 'd0.qcow2');
    await create(disk, 64 * 1024 * 1024);
    vm = await startVmProcess({
      name: 'qmptest',
      uuid: '00000000-0000-4000-8000-000000000001',
      memoryMb: 64,
      cpus: 1,
      disks: [{ deviceId: 0, file: disk }],
      runDir: scratch.dir,
      accel: 'tcg',
    });
  });
  afterAll(async () => {
    await vm?.stop(true);
    scratch.cleanup();
  });

  it('negotiates capabilities and matches replies to requests by id', async () => {
    const [status, kvm] = await Promise.all([vm.qmp.execute('query-status'), vm.qmp.execute('query-kvm')]);
    expect(status).toMatchObject({ status: 'running', running: true });
    expect(kvm).toMatchObject({ enabled: false });
  });

  it('rejects a bad command with the QMP error class', async () => {
    await expect(vm.qmp.execute('no-such-command')).rejects.toBeInstanceOf(QmpError);
    await expect(vm.qmp.execute('no-such-command')).rejects.toThrow(/CommandNotFound/);
  });

  it('records events with QEMU and host timestamps', async () => {
    const since = vm.qmp.mark();
    const before = Date.now();
    await vm.qmp.execute('stop');
    await vm.qmp.execute('cont');
    const stop = await vm.qmp.waitEvent((e) => e.event === 'STOP', 20_000, since);
    const resume = await vm.qmp.waitEvent((e) => e.event === 'RESUME', 20_000, since);
    const after = Date.now();
    expect(resume.qemuMs).toBeGreaterThanOrEqual(stop.qemuMs);
    // Both stamps fall inside the calls that caused the event: facts, not a tolerance on a busy host.
    // (QEMU stamps with the wall clock; the host stamp is performance-based, so it is brought onto
    // the wall clock with the offset between the two, read now.)
    expect(stop.qemuMs).toBeGreaterThanOrEqual(before - 1);
    expect(stop.qemuMs).toBeLessThanOrEqual(after + 1);
    const offset = performance.timeOrigin + performance.now() - Date.now();
    expect(stop.hostMs - offset).toBeGreaterThanOrEqual(before - 2);
    expect(stop.hostMs - offset).toBeLessThanOrEqual(after + 2);
  });

  it('runs a snapshot job and reads a failure only from query-jobs', async () => {
    await writePattern(vm.qmp, 0, 0x11, '0', '1M');
    await vm.qmp.runJob('save-a', () =>
      vm.qmp.execute('snapshot-save', { 'job-id': 'save-a', tag: 'a', vmstate: 'd0', devices: ['d0'] }),
    );
    // A duplicate tag: the command answers {} and the error shows only in the concluded job.
    const dup = vm.qmp.runJob('save-dup', () =>
      vm.qmp.execute('snapshot-save', { 'job-id': 'save-dup', tag: 'a', vmstate: 'd0', devices: ['d0'] }),
    );
    await expect(dup).rejects.toBeInstanceOf(QmpJobError);
    await expect(dup).rejects.toThrow(/already exists/);
    // The failed job was dismissed: nothing left in query-jobs.
    expect(await vm.qmp.execute('query-jobs')).toEqual([]);
    await writePattern(vm.qmp, 0, 0x22, '0', '1M');
    await vm.qmp.runJob('load-a', () =>
      vm.qmp.execute('snapshot-load', { 'job-id': 'load-a', tag: 'a', vmstate: 'd0', devices: ['d0'] }),
    );
    expect(await hasPattern(vm.qmp, 0, 0x11, '0', '1M')).toBe(true);
    expect(await hasPattern(vm.qmp, 0, 0x22, '0', '1M')).toBe(false);
  });

  it('rejects pending calls when the socket dies, and times out a silent wait', async () => {
    await expect(vm.qmp.waitEvent((e) => e.event === 'NEVER', 50)).rejects.toThrow(/within 50 ms/);
    const other = await startVmProcess({
      name: 'qmpdie',
      uuid: '00000000-0000-4000-8000-000000000002',
      memoryMb: 64,
      cpus: 1,
      disks: [],
      runDir: scratch.dir,
      accel: 'tcg',
    });
    await other.qmp.execute('stop');
    const pending = other.qmp.waitEvent((e) => e.event === 'NEVER', 10_000);
    process.kill(other.pid, 'SIGKILL');
    await expect(pending).rejects.toThrow(/closed/);
    await expect(other.qmp.execute('query-status')).rejects.toThrow(/closed/);
    await other.stop(true);
    expect(existsSync(other.paths.pid)).toBe(false);
  });
});
