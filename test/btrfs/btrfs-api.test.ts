/**
 * The btrfs driver through the CloudStack API: a host-local btrfs pool declared with
 * createStoragePool (checked on its host), a VM deployed on it with storageid (its disks in its own
 * subvolume), a disk snapshot taken by the storage strategy through the host agent, reverted with the
 * VM stopped, deleted. Real QEMU (OS-less), real btrfs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { itemsOf } from '../helpers/api-server.ts';
import { describeBtrfs, mountBtrfs, type MountedBtrfs } from '../helpers/btrfs.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { describeQemu, writePattern } from '../qemu/helpers.ts';

const TOKEN = 'btrfs-api-agent-token-0123456789';
const A = 0x1a;
const B = 0x2b;

function holds(file: string, pattern: number): boolean {
  try {
    const out = execFileSync(
      'qemu-io',
      ['-r', '-U', '-f', 'qcow2', file, '-c', `read -P 0x${pattern.toString(16)} 0 1M`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    return !out.includes('Pattern verification failed') && out.includes('read 1048576/1048576');
  } catch {
    return false;
  }
}

describeBtrfs('btrfs pools through the API', () => {
  describeQemu('a VM on a host-local btrfs pool', () => {
    let fs: MountedBtrfs;
    let state: string;
    let agent: RunningAgentServer;
    let t: TestApp;
    let server: FastifyInstance;
    let admin: TestApiClient;
    let zoneId = '';
    let hostId = '';

    beforeAll(async () => {
      fs = mountBtrfs('api');
      state = mkdtempSync(path.join(os.tmpdir(), 'vmsnap-btrfs-api-'));
      agent = await startAgentServer({
        port: 0,
        token: TOKEN,
        stateDir: path.join(state, 'agent'),
        poolDir: fs.mount,
      });
      t = await openTestApp({ dir: path.join(state, 'server') });
      server = await buildServer(t.app);
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      admin = new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey);
      zoneId = String(itemsOf(await admin.payload('listZones'), 'zone')[0]?.['id']);
      const added = await admin.payload('addHost', {
        zoneid: zoneId,
        hypervisor: 'KVM',
        url: agent.url,
        username: 'root',
        password: TOKEN,
      });
      hostId = String(itemsOf(added, 'host')[0]?.['id']);
    }, 120_000);
    afterAll(async () => {
      await agent?.agent.stopAll();
      await agent?.close();
      await server?.close();
      await t?.close();
      fs?.unmount();
      rmSync(state, { recursive: true, force: true });
    }, 120_000);

    async function succeeded(command: string, params: Record<string, string | number | boolean>) {
      const submitted = await admin.payload(command, params);
      const done = await admin.waitForJob(String(submitted['jobid']), 120_000);
      if (done['jobstatus'] !== 1) throw new Error(`${command} failed: ${JSON.stringify(done['jobresult'])}`);
      return { submitted, result: done['jobresult'] as Record<string, unknown> };
    }

    it('refuses a folder that is not there, and creates nothing', async () => {
      const res = await admin.call('createStoragePool', {
        zoneid: zoneId,
        name: 'nowhere',
        url: `file://${fs.poolPath}/missing`,
        provider: 'btrfs',
        scope: 'host',
        hostid: hostId,
      });
      expect(res.status).toBe(530); // CloudStack's "Failed to add data store"
      expect(res.text).toMatch(/Failed to add data store: folder \S+ does not exist on host/);
      const pools = itemsOf(await admin.payload('listStoragePools', { name: 'nowhere' }), 'storagepool');
      expect(pools).toEqual([]);
    });

    it('deploys on the pool, snapshots through the host, reverts bit-exact with the VM stopped', async () => {
      const created = await admin.payload('createStoragePool', {
        zoneid: zoneId,
        name: 'local-btrfs',
        url: `file://${fs.poolPath}`,
        provider: 'btrfs',
        scope: 'host',
        hostid: hostId,
      });
      const pool = (created['storagepool'] ?? itemsOf(created, 'storagepool')[0]) as Record<string, unknown>;
      expect(pool).toMatchObject({ provider: 'btrfs', scope: 'HOST' });

      const { submitted } = await succeeded('deployVirtualMachine', {
        zoneid: zoneId,
        name: 'btrfs-api-vm',
        memory: 64,
        cpunumber: 1,
        disksizes: '16,16',
        storageid: String(pool['id']),
      });
      const vmId = String(submitted['id']);
      const vm = (await t.app.deps.inventory.getVm(vmId))!;
      const volumes = await t.app.deps.inventory.volumesOf(vmId);
      const subvolume = path.join(fs.poolPath, 'vms', vm.instanceName);
      expect(volumes.map((v) => path.dirname(v.path))).toEqual([subvolume, subvolume]);

      const qmp = agent.agent.runningVm(vm.instanceName)!.qmp;
      for (const v of volumes) await writePattern(qmp, v.deviceId, A + v.deviceId, '0', '1M');
      const snap = await succeeded('createVMSnapshot', { virtualmachineid: vmId, snapshotmemory: false });
      const snapId = String(snap.submitted['id']);
      const taken = itemsOf(
        await admin.payload('listVMSnapshot', { vmsnapshotid: snapId, listall: true }),
        'vmSnapshot',
      )[0]!;
      expect(taken['state']).toBe('Ready');
      expect(
        readdirSync(path.join(fs.poolPath, 'snaps')).filter((s) => s.startsWith(`${vm.instanceName}@`)),
      ).toHaveLength(1);
      for (const v of volumes) await writePattern(qmp, v.deviceId, B + v.deviceId, '0', '1M');

      await succeeded('stopVirtualMachine', { id: vmId });
      await succeeded('revertToVMSnapshot', { vmsnapshotid: snapId });
      for (const v of volumes) expect(holds(v.path, A + v.deviceId)).toBe(true);

      await succeeded('deleteVMSnapshot', { vmsnapshotid: snapId });
      expect(
        readdirSync(path.join(fs.poolPath, 'snaps')).filter((s) => s.startsWith(`${vm.instanceName}@`)),
      ).toEqual([]);
      expect(existsSync(subvolume)).toBe(true);
    }, 300_000);
  });
});
