/**
 * Issue 10, item 14: the simulator reports what a QEMU host reports. `pausems` for every take (0 for
 * a disk-only snapshot; for memory, a simulated pause, deterministic: internal saves all RAM while
 * paused, live only the last dirty pages); `freezewindowms` 0 when the guest was not frozen and the
 * measured window when it was, in both strategies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatorWorld, type SimulatorAgent } from '../../src/hypervisors/simulator/index.ts';
import { itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { createSnapshot, snapshotTo, vmSpec } from './fixtures.ts';

describe('the simulator agent reports a pause and a freeze window', () => {
  let world: SimulatorWorld;
  let host: SimulatorAgent;
  beforeAll(async () => {
    world = new SimulatorWorld();
    host = world.agentFor('h', 'z');
    // 512 MB of RAM: an internal save at the simulated 4 MB/ms pauses it 128 ms.
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
  });
  afterAll(() => world.dispose());

  it.each([
    ['a disk-only snapshot', 'Disk', undefined, false, 0],
    ['an internal memory snapshot', 'DiskAndMemory', 'internal', false, 128],
    ['a memory snapshot in the default mode (internal)', 'DiskAndMemory', undefined, false, 128],
    ['a live memory snapshot', 'DiskAndMemory', 'live', false, 5],
    ['a quiesced disk snapshot', 'Disk', undefined, true, 0],
  ] as const)('%s', async (_what, type, memoryMode, quiesce, pauseMs) => {
    const name = `vm_${type}_${memoryMode ?? 'default'}_${String(quiesce)}`;
    const answer = await host.execute({
      ...createSnapshot('vm', snapshotTo(name, type), { quiesce }),
      ...(memoryMode !== undefined ? { memoryMode } : {}),
    });
    if (!answer.result) throw new Error(answer.details);
    expect(answer.timings?.pauseMs).toBe(pauseMs);
    if (quiesce) expect(answer.timings?.freezeMs).toEqual(expect.any(Number));
    else expect(answer.timings?.freezeMs).toBe(0);
  });
});

describe('snapshot responses on the simulator carry pausems and freezewindowms', () => {
  let h: ApiHarness;
  let vmId: string;
  beforeAll(async () => {
    h = await startApiServer();
    const vms = itemsOf(await h.demo.payload('listVirtualMachines'), 'virtualmachine');
    vmId = vms.find((v) => v['name'] === 'web-1')?.['id'] as string;
  });
  afterAll(async () => {
    await h.close();
  });

  async function take(params: Record<string, string | boolean>): Promise<Record<string, unknown>> {
    const created = await h.demo.payload('createVMSnapshot', { virtualmachineid: vmId, ...params });
    const job = await h.demo.waitForJob(created['jobid'] as string);
    expect(job['jobstatus']).toBe(1);
    return (job['jobresult'] as { vmsnapshot: Record<string, unknown> }).vmsnapshot;
  }

  it('a memory snapshot: its simulated pause (web-1 has 2048 MB), no freeze', async () => {
    const snap = await take({ snapshotmemory: true, name: 'mem' });
    expect(snap['pausems']).toBe(512);
    expect(snap['freezewindowms']).toBe(0);
  });

  it('a disk snapshot: no pause, no freeze; quiesced: a measured freeze window', async () => {
    const disk = await take({ name: 'disk' });
    expect(disk['pausems']).toBe(0);
    expect(disk['freezewindowms']).toBe(0);
    const quiesced = await take({ name: 'quiesced', quiescevm: true });
    expect(quiesced['freezewindowms']).toEqual(expect.any(Number));
  });
});
