/**
 * Through the CloudStack API: a Ceph pool added with createStoragePool, a two-disk VM deployed on it
 * (real QEMU on RBD images, the host agent reached over HTTP), disk and memory VM snapshots taken,
 * reverted and deleted with the data checked bit-exact by Ceph:
 * write A, snapshot s1, write B, memory snapshot s2, write C; revert to s1 while running is refused;
 * revert to s1 (stopped): A; revert to s2 (started again): running, B; delete s2: s1 still gives A.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { errorOf, itemsOf } from '../helpers/api-server.ts';
import { startCeph, type TestCeph } from '../helpers/ceph.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { scratchDir, writePattern } from '../qemu/helpers.ts';
import { groupNameOf, snapNameOf } from '../../src/core/rbd-snapshot-ref.ts';
import { consistentCut, firstBytes, OrderedWriter } from './ordered-writer.ts';
import { describeCeph } from './rbd-fixture.ts';

const TOKEN = 'rbd-api-agent-token-0123456789';
const MIB = 1024 * 1024;
const DISKS = 4;
const SNAPSHOTS = 20;
/** Writer rounds between two cuts, so the cuts fall at different points of the writing. */
const ROUNDS_BETWEEN = 3;

describeCeph('VMs on a Ceph pool through the API (real QEMU, real Ceph)', () => {
  let ceph: TestCeph;
  let scratch: { dir: string; cleanup: () => void };
  let host: RunningAgentServer;
  let t: TestApp;
  let server: FastifyInstance;
  let admin: TestApiClient;
  let zoneId = '';
  let poolId = '';

  beforeAll(async () => {
    ceph = startCeph('rbd-api');
    scratch = scratchDir('rbd-api');
    host = await startAgentServer({
      port: 0,
      token: TOKEN,
      stateDir: path.join(scratch.dir, 'agent', 'state'),
      poolDir: path.join(scratch.dir, 'agent', 'pool'),
      accel: 'tcg',
    });
    t = await openTestApp({ dir: path.join(scratch.dir, 'server') });
    server = await buildServer(t.app);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    admin = new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey);
    zoneId = String(itemsOf(await admin.payload('listZones'), 'zone')[0]?.['id']);
    await admin.payload('addHost', {
      zoneid: zoneId,
      hypervisor: 'KVM',
      url: host.url,
      username: 'root',
      password: TOKEN,
    });
    const created = await admin.payload('createStoragePool', {
      zoneid: zoneId,
      name: 'ceph1',
      url: ceph.url(),
      provider: 'ceph-rbd',
    });
    poolId = String((created['storagepool'] as Record<string, unknown>)['id']);
  }, 180_000);

  afterAll(async () => {
    await server?.close();
    await t?.close();
    await host?.agent.stopAll();
    await host?.close();
    ceph?.down();
    scratch?.cleanup();
  });

  /** Runs an async API command and returns its job result; a failed job throws its error text. */
  async function job(command: string, params: Record<string, string | number | boolean>) {
    const submitted = await admin.payload(command, params);
    const done = await admin.waitForJob(String(submitted['jobid']), 240_000);
    if (done['jobstatus'] !== 1) throw new Error(`${command}: ${JSON.stringify(done['jobresult'])}`);
    return done['jobresult'] as Record<string, unknown>;
  }

  /** A VM deployed on the Ceph pool: its id, instance name and RBD image names (ROOT first). */
  async function deploy(name: string, disks: number) {
    const deployed = await job('deployVirtualMachine', {
      zoneid: zoneId,
      name,
      memory: 64,
      disksizes: Array.from({ length: disks }, () => '8').join(','),
      storageid: poolId,
      hypervisor: 'KVM',
    });
    const vm = deployed['virtualmachine'] as Record<string, unknown>;
    const vmId = String(vm['id']);
    const volumes = itemsOf(await admin.payload('listVolumes', { virtualmachineid: vmId }), 'volume');
    const images = [...volumes]
      .sort((a, b) => Number(a['deviceid']) - Number(b['deviceid']))
      .map((v) => String(v['path']));
    expect(images).toHaveLength(disks);
    return { vmId, instanceName: String(vm['instancename']), images };
  }

  async function snapshot(vmId: string, name: string, memory: boolean): Promise<string> {
    const result = await job('createVMSnapshot', {
      virtualmachineid: vmId,
      name,
      snapshotmemory: memory,
      quiescevm: false,
    });
    return String((result['vmsnapshot'] as Record<string, unknown>)['id']);
  }

  /** The distinct byte values of each image's first MiB, read by Ceph (ROOT first). */
  async function bytesOn(images: readonly string[]): Promise<number[][]> {
    const seen: number[][] = [];
    for (const image of images) {
      const out = path.join(scratch.dir, `${image}-${randomUUID()}.raw`);
      await ceph.rbd(['export', '--no-progress', `${ceph.pool}/${image}`, out]);
      seen.push([...new Set(readFileSync(out).subarray(0, MIB))]);
    }
    return seen;
  }

  it('deploys on a Ceph pool, snapshots with and without memory, reverts and deletes bit-exact', async () => {
    const { vmId, instanceName, images } = await deploy('rbdapi', 2);

    const write = async (pattern: number): Promise<void> => {
      const qmp = host.agent.runningVm(instanceName)!.qmp;
      for (const i of [0, 1]) await writePattern(qmp, i, pattern, '0', '1M');
    };
    const onDisks = () => bytesOn(images);

    await write(0xa1);
    const s1 = await snapshot(vmId, 's1', false);
    await write(0xb2);
    const s2 = await snapshot(vmId, 's2', true);
    await write(0xc3);

    // Disk-only revert of a running VM: refused before anything changes (CloudStack's rule too).
    const refused = errorOf(
      await admin.call('revertToVMSnapshot', { vmsnapshotid: s1 }),
      'revertToVMSnapshot',
      431,
    );
    expect(refused.errortext).toContain('is not allowed for running Instances');
    await job('stopVirtualMachine', { id: vmId });
    expect(await onDisks()).toEqual([[0xc3], [0xc3]]);

    await job('revertToVMSnapshot', { vmsnapshotid: s1 });
    expect(await onDisks()).toEqual([[0xa1], [0xa1]]);

    // A memory snapshot is reverted on a running VM (CloudStack's rule): the agent stops QEMU,
    // rolls the group back with the images closed, and a new QEMU loads the RAM and runs.
    await job('startVirtualMachine', { id: vmId });
    await job('revertToVMSnapshot', { vmsnapshotid: s2 });
    const afterMemory = itemsOf(await admin.payload('listVirtualMachines', { id: vmId }), 'virtualmachine');
    expect(afterMemory[0]?.['state']).toBe('Running');
    expect(await host.agent.runningVm(instanceName)!.status()).toBe('running');
    await job('stopVirtualMachine', { id: vmId });
    expect(await onDisks()).toEqual([[0xb2], [0xb2]]);

    await job('deleteVMSnapshot', { vmsnapshotid: s2 });
    await job('revertToVMSnapshot', { vmsnapshotid: s1 });
    expect(await onDisks()).toEqual([[0xa1], [0xa1]]);
  }, 400_000);

  it('a revert while a QEMU still has an image open is refused up front: the job fails, nothing is rolled back', async () => {
    // vmsnap sees the VM stopped, but a QEMU elsewhere (a host that lost contact) still has an image
    // open: librbd would roll back under it without a word, so the driver's canRevert refuses first.
    const { vmId, instanceName, images } = await deploy('rbdheld', 2);
    const qmp = () => host.agent.runningVm(instanceName)!.qmp;
    for (const i of [0, 1]) await writePattern(qmp(), i, 0xa1, '0', '1M');
    const s1 = await snapshot(vmId, 's1', false);
    for (const i of [0, 1]) await writePattern(qmp(), i, 0xb2, '0', '1M');
    await job('stopVirtualMachine', { id: vmId });
    const stale = await ceph.holdOpen(images[1]!);
    try {
      const submitted = await admin.payload('revertToVMSnapshot', { vmsnapshotid: s1 });
      const done = await admin.waitForJob(String(submitted['jobid']), 240_000);
      expect(done['jobstatus']).toBe(2);
      expect(JSON.stringify(done['jobresult'])).toMatch(
        new RegExp(`volume \\S+ on storage driver ceph-rbd: the image is open by a running VM`),
      );
      const snap = itemsOf(await admin.payload('listVMSnapshot', { vmsnapshotid: s1 }), 'vmSnapshot');
      expect(snap[0]?.['state']).toBe('Ready');
      expect(await bytesOn(images)).toEqual([[0xb2], [0xb2]]);
    } finally {
      await stale.close();
    }
    // Once the stale QEMU is gone the same revert goes through.
    await job('revertToVMSnapshot', { vmsnapshotid: s1 });
    expect(await bytesOn(images)).toEqual([[0xa1], [0xa1]]);
  }, 300_000);

  it('ordered writer on 4 disks: 0 of 20 API snapshots inconsistent, a one-image-at-a-time loop inconsistent', async () => {
    // CloudStack keeps 10 VM snapshots per VM by default; this VM takes 20.
    await admin.payload('updateConfiguration', { name: 'vmsnapshot.max', value: String(SNAPSHOTS) });
    const { vmId, instanceName, images } = await deploy('rbdwriter', DISKS);
    const writer = new OrderedWriter(host.agent.runningVm(instanceName)!.qmp, DISKS);
    writer.start();
    await writer.advance(5);
    const group = groupNameOf(vmId);
    const grouped: { image: string; snap: string }[][] = [];
    for (let n = 0; n < SNAPSHOTS; n++) {
      const id = await snapshot(vmId, `cut${n}`, false);
      grouped.push(images.map((image) => ({ image, snap: snapNameOf(id) })));
      await writer.advance(ROUNDS_BETWEEN);
    }
    // The same writer against per-image snapshots taken one after the other (CloudStack's way).
    const oneByOne: { image: string; snap: string }[][] = [];
    for (let n = 0; n < SNAPSHOTS; n++) {
      for (const image of images)
        await ceph.rbd(['snap', 'create', '--no-progress', `${ceph.pool}/${image}@loop${n}`]);
      oneByOne.push(images.map((image) => ({ image, snap: `loop${n}` })));
      await writer.advance(ROUNDS_BETWEEN);
    }
    const rounds = await writer.stop();
    const groupSnaps = JSON.parse(
      await ceph.rbd(['group', 'snap', 'ls', '--format', 'json', `${ceph.pool}/${group}`]),
    ) as { snapshot: string }[];
    expect(groupSnaps).toHaveLength(SNAPSHOTS);

    const inconsistent = async (cuts: { image: string; snap: string }[][]): Promise<string[]> => {
      const values = await firstBytes(
        ceph.conf,
        ceph.pool,
        cuts.flat().map((c) => [c.image, c.snap] as const),
      );
      return cuts.flatMap((_, i) => {
        const cut = values.slice(i * DISKS, (i + 1) * DISKS);
        return consistentCut(cut) ? [] : [cut.join(' ')];
      });
    };
    const groupBad = await inconsistent(grouped);
    const loopBad = await inconsistent(oneByOne);
    console.log(
      `rbd consistency: group snapshots (API) ${groupBad.length}/${SNAPSHOTS} inconsistent, ` +
        `one image at a time ${loopBad.length}/${SNAPSHOTS} inconsistent, ${rounds} writer rounds`,
    );
    expect(groupBad).toEqual([]);
    expect(loopBad.length).toBeGreaterThan(0);
  }, 400_000);
});
