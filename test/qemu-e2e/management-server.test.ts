/**
 * End to end through the management server: a real host agent process (real QEMU, the tiny Linux
 * guest with qemu-ga) and a vmsnap API server, driven over the CloudStack API with a signing client.
 * addHost imports the host's pool and VMs; deployVirtualMachine creates real qcow2 disks; disk-only and
 * memory snapshots are taken, reverted and deleted with the data checked; a snapshot with the agent
 * down fails cleanly; and a management server SIGKILLed while the guest is frozen leaves the agent
 * to thaw it within the budget, after which a restarted server recovers the snapshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { buildServer } from '../../src/api/server.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { until } from '../helpers/eventually.ts';
import { errorOf, itemsOf } from '../helpers/api-server.ts';
import { openTestApp, quietLog, type TestApp } from '../helpers/test-app.ts';
import { vmSpec } from '../qemu/agent-fixtures.ts';
import {
  describeQemu,
  filePattern,
  hasPattern,
  repoRoot,
  scratchDir,
  testGuest,
  writePattern,
} from '../qemu/helpers.ts';
import {
  agentDirs,
  connectQmp,
  freezeStatus,
  persistedVm,
  quitAllVms,
  spawnAgent,
  stopProcess,
  TOKEN,
  waitFor,
  waitGuestAgent,
  type AgentProcess,
} from './e2e-helpers.ts';

const RUNNER = path.join(import.meta.dirname, 'server-process.ts');
const FREEZE_BUDGET_MS = 2000;
/**
 * The agent holds every quiesced snapshot this long inside its freeze (fault injection). Far longer
 * than the budget, so that "the watchdog thawed it while the snapshot was still held" is a fact the
 * test can check (the snapshot is still Creating on the host), not a race against a busy machine.
 */
const HOLD_FROZEN_MS = 15_000;
/** Pattern bytes on the data disk (vdb: the tiny guest only mounts vda). */
const AT_SNAPSHOT = 0x3a;
const AFTER_SNAPSHOT = 0xc5;

interface Harness {
  readonly t: TestApp;
  readonly server: FastifyInstance;
  readonly admin: TestApiClient;
  close(): Promise<void>;
}

/** startApiServer(), on a data dir the test keeps (a child server opens it later). */
async function startHarness(dir: string): Promise<Harness> {
  const t = await openTestApp({ dir });
  const server = await buildServer(t.app);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    t,
    server,
    admin: new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey),
    async close() {
      await server.close();
      await t.close();
    },
  };
}

describeQemu('vmsnap end to end: management server + QEMU host agent + tiny guest', () => {
  const scratch = scratchDir('e2e-mgmt');
  const agentDir = path.join(scratch.dir, 'agent');
  const appDir = path.join(scratch.dir, 'server');
  const pool = agentDirs(agentDir).pool;
  const children: ChildProcess[] = [];
  let agentEnv: Record<string, string>;
  let agent: AgentProcess;
  let h: Harness | undefined;
  let reopened: App | undefined;
  let admin: TestApiClient;
  let zoneId = '';
  let hostId = '';
  let vmId = '';
  let instanceName = '';
  let hostReady: Promise<Record<string, unknown>> | undefined;
  let vmSeq = 0;

  async function startAgent(port = 0): Promise<AgentProcess> {
    agent = await spawnAgent(agentDir, agentEnv, port);
    children.push(agent.child);
    return agent;
  }

  /** The agent holds the VM's QMP socket: stop it, use the socket, start it again on the same port. */
  async function withQmp<T>(fn: (qmp: Awaited<ReturnType<typeof connectQmp>>) => Promise<T>): Promise<T> {
    const port = agent.port;
    await stopProcess(agent.child, 'SIGTERM');
    const qmp = await connectQmp(agentDir, instanceName);
    try {
      return await fn(qmp);
    } finally {
      qmp.close();
      await startAgent(port);
    }
  }

  /**
   * The agent's host, added once (the addHost test checks how); tests after it start from here even
   * when that test failed. A failed attempt is forgotten, so the next test tries again.
   */
  function ensureHost(): Promise<Record<string, unknown>> {
    hostReady ??= (async () => {
      const zones = itemsOf(await admin.payload('listZones'), 'zone');
      zoneId = String(zones[0]?.['id']);
      const added = await admin.payload('addHost', {
        zoneid: zoneId,
        hypervisor: 'KVM',
        url: agent.url,
        username: 'root',
        password: TOKEN,
      });
      const host = itemsOf(added, 'host')[0]!;
      hostId = String(host['id']);
      return host;
    })().catch((err: unknown) => {
      hostReady = undefined;
      throw err;
    });
    return hostReady;
  }

  /** Deploys a running VM on the agent's host and makes it the one `vmId` / `instanceName` name. */
  async function deployVm(name: string): Promise<{ submitted: Record<string, unknown> }> {
    await ensureHost();
    const { submitted } = await succeeded('deployVirtualMachine', {
      zoneid: zoneId,
      hostid: hostId,
      name,
      memory: 128,
      cpunumber: 1,
      disksizes: '64,32',
    });
    vmId = String(submitted['id']);
    instanceName = (await h!.t.app.deps.inventory.getVm(vmId))!.instanceName;
    return { submitted };
  }

  /**
   * Each test after the deploy test works on a VM of its own, so a test that fails (a guest agent
   * that timed out, a revert cut short) cannot fail the ones after it. The previous test's VM is
   * stopped first, best effort, so that idle TCG guests do not compete for the two vCPUs.
   */
  async function ownVm(): Promise<void> {
    if (vmId !== '' && agent.child.exitCode === null && agent.child.signalCode === null) {
      await succeeded('stopVirtualMachine', { id: vmId, forced: true }).catch(() => undefined);
    }
    vmSeq += 1;
    await deployVm(`e2e-vm${vmSeq}`);
  }

  async function job(jobId: unknown, timeoutMs = 90_000): Promise<Record<string, unknown>> {
    return admin.waitForJob(String(jobId), timeoutMs);
  }

  async function succeeded(command: string, params: Record<string, string | number | boolean>) {
    const submitted = await admin.payload(command, params);
    const done = await job(submitted['jobid']);
    if (done['jobstatus'] !== 1) throw new Error(`${command} failed: ${JSON.stringify(done['jobresult'])}`);
    return { submitted, result: done['jobresult'] as Record<string, unknown> };
  }

  async function vmState(): Promise<unknown> {
    const vms = itemsOf(await admin.payload('listVirtualMachines', { id: vmId }), 'virtualmachine');
    return vms[0]?.['state'];
  }

  async function snapshot(id: string): Promise<Record<string, unknown> | undefined> {
    const list = await admin.payload('listVMSnapshot', { vmsnapshotid: id, listall: true });
    const all = itemsOf(list, 'vmSnapshot');
    if (all.length > 0) return all[0];
    const errored = await admin.payload('listVMSnapshot', { vmsnapshotid: id, state: 'Error' });
    return itemsOf(errored, 'vmSnapshot')[0];
  }

  /** The agent's CheckVMSnapshot answer (what the server's recovery reads). */
  async function check(name: string) {
    return agent.client.execute({
      kind: 'CheckVMSnapshot',
      vmName: instanceName,
      target: {
        id: randomUUID(), // the agent protocol wants ids as UUIDs; CheckVMSnapshot looks up by name
        name,
        type: 'Disk',
        description: '',
        current: false,
        quiesce: false,
        createdAt: null,
        parent: null,
      },
    });
  }

  /** Volume paths of the deployed VM, ordered by device id, as the management server has them. */
  async function volumePaths(app: App): Promise<string[]> {
    const volumes = await app.deps.inventory.volumesOf(vmId);
    return [...volumes].sort((a, b) => a.deviceId - b.deviceId).map((v) => v.path);
  }

  beforeAll(async () => {
    const guest = testGuest();
    agentEnv = {
      VMSNAP_AGENT_GUEST_KERNEL: guest.kernel,
      VMSNAP_AGENT_GUEST_INITRD: guest.initrd,
      // Deployed VMs (i-<account>-<n>-VM) boot the tiny guest; the VM made on the host stays OS-less.
      VMSNAP_AGENT_GUEST_NAME_PATTERN: '^i-',
      VMSNAP_AGENT_PAUSE_AFTER_STEP: `frozen:${HOLD_FROZEN_MS}`,
    };
    await startAgent();
    // A VM that exists on the host before it is added: addHost must import it.
    const created = await agent.client.execute({ kind: 'CreateVM', vm: vmSpec('hostvm1', 1) });
    expect(created.result).toBe(true);
    h = await startHarness(appDir);
    admin = h.admin;
  }, 120_000);

  afterAll(async () => {
    await h?.close().catch(() => undefined);
    await reopened?.stop().catch(() => undefined);
    for (const child of children) await stopProcess(child, 'SIGKILL');
    await quitAllVms(agentDir);
    scratch.cleanup();
  });

  it('addHost: the host is Up, its pool and its VM are imported; a wrong token is refused', async () => {
    const zones = itemsOf(await admin.payload('listZones'), 'zone');
    zoneId = String(zones[0]?.['id']);
    const base = { zoneid: zoneId, hypervisor: 'KVM', url: agent.url, username: 'root' };

    const refused = errorOf(
      await admin.call('addHost', { ...base, password: 'not-the-token-xxxxxxxx' }),
      'addHost',
      530,
    );
    expect(refused.errortext).toMatch(/Cannot add host .* the agent did not answer .*401/);

    const host = await ensureHost();
    expect(host).toMatchObject({ state: 'Up', hypervisor: 'KVM', zoneid: zoneId });

    const hosts = itemsOf(await admin.payload('listHosts', { id: hostId }), 'host');
    expect(hosts[0]).toMatchObject({ id: hostId, state: 'Up', hypervisor: 'KVM' });
    const pools = itemsOf(await admin.payload('listStoragePools'), 'storagepool');
    expect(pools.find((p) => p['path'] === pool)).toMatchObject({ scope: 'HOST', type: 'Filesystem' });
    const vms = itemsOf(await admin.payload('listVirtualMachines', { listall: true }), 'virtualmachine');
    expect(vms.find((v) => v['instancename'] === 'hostvm1')).toMatchObject({
      state: 'Stopped',
      hypervisor: 'KVM',
    });
  });

  it('deployVirtualMachine: the job succeeds, the VM runs on two real qcow2 disks', async () => {
    await deployVm('e2e-vm');
    expect(await vmState()).toBe('Running');
    const paths = await volumePaths(h!.t.app);
    expect(paths).toHaveLength(2);
    for (const p of paths) {
      expect(p.startsWith(`${pool}/`) && p.endsWith('.qcow2')).toBe(true);
      expect(existsSync(p)).toBe(true);
    }
    const volumes = itemsOf(await admin.payload('listVolumes', { virtualmachineid: vmId }), 'volume');
    expect(volumes.map((v) => v['size']).sort()).toEqual([32 * 1024 * 1024, 64 * 1024 * 1024]);
    const bootMs = await waitGuestAgent(agent.client, instanceName);
    console.log(`deployed ${instanceName}: tiny guest's qemu-ga answered after ${bootMs} ms more`);
  }, 120_000);

  it('disk-only snapshot of the running VM: no pause; revert brings back the snapshot-time data', async () => {
    await ownVm();
    await withQmp((qmp) => writePattern(qmp, 1, AT_SNAPSHOT, '0', '1M'));
    const { submitted } = await succeeded('createVMSnapshot', {
      virtualmachineid: vmId,
      quiescevm: false,
      snapshotmemory: false,
    });
    const snapId = String(submitted['id']);
    const snap = await snapshot(snapId);
    expect(snap).toMatchObject({ state: 'Ready', type: 'Disk', strategy: 'hypervisor', pausems: 0 });
    console.log(`disk-only snapshot through the API: pause ${String(snap?.['pausems'])} ms`);

    await withQmp(async (qmp) => {
      await writePattern(qmp, 1, AFTER_SNAPSHOT, '0', '1M');
      expect(await hasPattern(qmp, 1, AFTER_SNAPSHOT, '0', '1M')).toBe(true);
    });
    await succeeded('stopVirtualMachine', { id: vmId });
    expect(await vmState()).toBe('Stopped');
    const before = (await volumePaths(h!.t.app))[1]!;
    expect(filePattern(before, AFTER_SNAPSHOT, '0', '1M')).toBe(true);

    await succeeded('revertToVMSnapshot', { vmsnapshotid: snapId });
    expect(await vmState()).toBe('Stopped');
    const after = (await volumePaths(h!.t.app))[1]!;
    expect(after).not.toBe(before);
    expect(existsSync(after)).toBe(true);
    expect(filePattern(after, AT_SNAPSHOT, '0', '1M')).toBe(true);
    expect(filePattern(after, AFTER_SNAPSHOT, '0', '4k')).toBe(false);
    expect((await snapshot(snapId))?.['state']).toBe('Ready');
    // What recovery would read: the VM runs from this snapshot now, stopped, on the new paths.
    const checked = await check(String(snap?.['name']));
    expect(checked).toMatchObject({ result: true, exists: true, current: true, powerState: 'PowerOff' });
    const reported = checked.result ? (checked.volumes ?? []).map((v) => v.path) : [];
    expect(reported).toEqual(await volumePaths(h!.t.app));

    await succeeded('startVirtualMachine', { id: vmId });
    expect(await vmState()).toBe('Running');
  }, 60_000);

  it('memory snapshot (live): pause recorded; revert leaves it Running; delete removes its files', async () => {
    await ownVm();
    // A disk-only parent first: deleting the memory snapshot must make it current again.
    const parent = await succeeded('createVMSnapshot', {
      virtualmachineid: vmId,
      quiescevm: false,
      snapshotmemory: false,
    });
    const diskSnapshotName = String((await snapshot(String(parent.submitted['id'])))?.['name']);
    const { submitted } = await succeeded('createVMSnapshot', {
      virtualmachineid: vmId,
      snapshotmemory: true,
    });
    const snapId = String(submitted['id']);
    const snap = await snapshot(snapId);
    expect(snap).toMatchObject({ state: 'Ready', type: 'DiskAndMemory', memorymode: 'live' });
    expect(typeof snap?.['pausems']).toBe('number');
    expect(snap?.['pausems'] as number).toBeGreaterThan(0);
    console.log(`live memory snapshot through the API (128 MiB, TCG): pause ${String(snap?.['pausems'])} ms`);
    const name = String(snap?.['name']);
    expect(readdirSync(pool).some((f) => f.includes(name) && f.endsWith('.vmstate'))).toBe(true);

    await succeeded('revertToVMSnapshot', { vmsnapshotid: snapId });
    expect(await vmState()).toBe('Running');
    expect(await agent.client.execute({ kind: 'GetVmStates' })).toMatchObject({
      vms: expect.arrayContaining([{ name: instanceName, powerState: 'PowerOn' }]),
    });

    expect(await check(name)).toMatchObject({ exists: true, current: true, powerState: 'PowerOn' });
    expect(await check(diskSnapshotName)).toMatchObject({ exists: true, current: false });

    await succeeded('deleteVMSnapshot', { vmsnapshotid: snapId });
    expect(await snapshot(snapId)).toBeUndefined();
    expect(readdirSync(pool).filter((f) => f.includes(name))).toEqual([]);
    // Deleting the current snapshot makes its parent current, as in CloudStack.
    expect(await check(name)).toMatchObject({ exists: false, current: false });
    expect(await check(diskSnapshotName)).toMatchObject({ exists: true, current: true });
    for (const p of await volumePaths(h!.t.app)) expect(existsSync(p)).toBe(true);
  }, 60_000);

  it('a snapshot with the agent stopped fails with 530 and is Error; the host comes back Up', async () => {
    await ownVm();
    const port = agent.port;
    await stopProcess(agent.child, 'SIGTERM');
    // Whatever fails below, the agent and the heartbeat timeout are back for the next test.
    onTestFinished(async () => {
      if (agent.child.exitCode !== null || agent.child.signalCode !== null) await startAgent(port);
      await h?.t.app.deps.settings.set('host.heartbeat.timeout', '60');
    });
    const submitted = await admin.payload('createVMSnapshot', { virtualmachineid: vmId });
    const done = await job(submitted['jobid']);
    expect(done).toMatchObject({ jobstatus: 2, jobresultcode: 530 });
    const errortext = String((done['jobresult'] as Record<string, unknown>)['errortext']);
    // The transport's own text (addresses, "fetch failed") stays in the server log (issue 9).
    expect(errortext).toMatch(
      /Creating VM snapshot: .* failed: AgentUnavailableException: the host could not be reached \(error id /,
    );
    const snapId = String(submitted['id']);
    expect((await snapshot(snapId))?.['state']).toBe('Error');

    // Missed heartbeats make the host Down (timeout 0 s here); the agent back makes it Up.
    await h!.t.app.deps.settings.set('host.heartbeat.timeout', '0');
    await h!.t.app.heartbeat();
    expect(itemsOf(await admin.payload('listHosts', { id: hostId }), 'host')[0]?.['state']).toBe('Down');
    await startAgent(port);
    await h!.t.app.heartbeat();
    expect(itemsOf(await admin.payload('listHosts', { id: hostId }), 'host')[0]?.['state']).toBe('Up');
    await h!.t.app.deps.settings.set('host.heartbeat.timeout', '60');
    expect(await vmState()).toBe('Running');

    await succeeded('deleteVMSnapshot', { vmsnapshotid: snapId });
    expect(await snapshot(snapId)).toBeUndefined();
  }, 60_000);

  it('SIGKILL the management server while the guest is frozen: the agent thaws within the budget', async () => {
    await ownVm();
    await waitGuestAgent(agent.client, instanceName);
    await h!.close();
    h = undefined;

    const server = spawn(
      process.execPath,
      ['--import', 'tsx', RUNNER, appDir, vmId, String(FREEZE_BUDGET_MS)],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(server);
    let out = '';
    server.stdout.on('data', (c: Buffer) => (out += c.toString()));
    server.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const submitted = await waitFor(
      'the child server to submit the snapshot',
      () => {
        if (server.exitCode !== null) throw new Error(`server exited:\n${out}`);
        return /SUBMITTED (\S+) (\S+) (\S+)/.exec(out) ?? undefined;
      },
      30_000,
    );
    const [, snapId, snapName, jobId] = submitted as unknown as [string, string, string, string];
    // Frozen for real (held inside the window, not a passing freeze): frozen twice, 200 ms apart.
    await waitFor(
      'the snapshot freeze',
      async () => {
        if ((await freezeStatus(agent.client, instanceName)) !== 'frozen') return undefined;
        await new Promise((r) => setTimeout(r, 200));
        return (await freezeStatus(agent.client, instanceName)) === 'frozen' ? true : undefined;
      },
      30_000,
    );
    const record = persistedVm(agentDir, instanceName)?.freeze;
    expect(record?.owner).toBe('snapshot');
    const frozenSeenAt = Date.now();
    await stopProcess(server, 'SIGKILL');
    expect(server.signalCode).toBe('SIGKILL');
    expect(out).not.toMatch(/DONE/);

    await until(
      async () => (await freezeStatus(agent.client, instanceName)) === 'thawed',
      'the agent watchdog to thaw the guest',
      { timeoutMs: HOLD_FROZEN_MS, everyMs: 20 },
    );
    const thawedAt = Date.now();
    // Thawed by the watchdog at the budget, not by the snapshot's own thaw after the hold: the
    // agent says so, and the snapshot is still held in its freeze step (checked below). Both are
    // facts, not durations, so a slow poll on a busy machine cannot flip them.
    expect(thawedAt).toBeGreaterThanOrEqual(record!.deadline! - 50);
    console.log(
      `management server SIGKILLed mid-freeze: guest thawed ${thawedAt - frozenSeenAt} ms after the kill, ` +
        `${thawedAt - (record!.deadline! - FREEZE_BUDGET_MS)} ms after the freeze was recorded (budget ${FREEZE_BUDGET_MS} ms)`,
    );
    expect(agent.output()).toMatch(/freeze budget exceeded/);

    // A restarted server recovers the interrupted create. The agent is still taking it (held in its
    // freeze step): CheckVMSnapshot waits for it instead of answering "does not exist" too early.
    expect(persistedVm(agentDir, instanceName)?.snapshots.find((s) => s.name === snapName)?.state).toBe(
      'Creating',
    );
    reopened = await App.open({ config: loadConfig(appDir, { plugins: [] }), log: quietLog });
    await reopened.start();
    const row = await reopened.deps.jobs.waitFor(jobId, HOLD_FROZEN_MS + 60_000);
    expect(row.status, String(row.result)).toBe('succeeded');
    const recovered = await reopened.deps.snapshots.get(snapId);
    expect(recovered).toMatchObject({ state: 'Ready', name: snapName });
    expect(recovered?.details).toMatchObject({ recovered: true });
    const onHost = persistedVm(agentDir, instanceName)!;
    expect(onHost.currentSnapshot).toBe(snapName);
    expect(onHost.snapshots.find((s) => s.name === snapName)?.state).toBe('Ready');
    // The volume paths came from CheckVMSnapshot: the overlays the agent's cut made.
    const active = [...onHost.disks].sort((a, b) => a.deviceId - b.deviceId).map((d) => d.active);
    expect(await volumePaths(reopened)).toEqual(active);
    expect(active.every((f) => f.includes(snapName))).toBe(true);
  }, 240_000);
});
