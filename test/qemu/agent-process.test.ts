/**
 * The agent as its own process behind HTTP: token auth, and a kill -9 in the middle of a live memory
 * snapshot's RAM save, then restart and reconcile (issue 6, crash safety).
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HttpAgentClient } from '../../src/agent-client/http-agent-client.ts';
import { QmpClient } from '../../src/hypervisors/qemu/qmp-client.ts';
import { topNodes } from '../../src/hypervisors/qemu/live-block.ts';
import { createSnap, snapTO, vmSpec } from './agent-fixtures.ts';
import { spawnAgent, TOKEN } from '../qemu-e2e/e2e-helpers.ts';
import { describeQemu, hasPattern, scratchDir, writePattern } from './helpers.ts';

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

interface PersistedState {
  vms: {
    name: string;
    pending: { step: string } | null;
    snapshots: { name: string; state: string; error?: string }[];
  }[];
}

function stateOf(dir: string): PersistedState {
  return JSON.parse(readFileSync(path.join(dir, 'state', 'qemu-agent-state.json'), 'utf8')) as PersistedState;
}

describeQemu('the agent process over HTTP: auth, and kill -9 during a snapshot', () => {
  const scratch = scratchDir('agentproc');
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    // The VM outlives the agent by design: stop it through its QMP socket.
    const qmp = await QmpClient.connect(path.join(scratch.dir, 'state', 'run', 'crash1.qmp'), {
      connectTimeoutMs: 500,
    }).catch(() => null);
    await qmp?.execute('quit', undefined, 5000).catch(() => undefined);
    qmp?.close();
    await new Promise((r) => setTimeout(r, 200));
    scratch.cleanup();
  });

  it('requires the bearer token, then serves commands; a killed agent mid-save is reconciled on restart', async () => {
    // Fault injection: the RAM file's writer stalls for 4 s, so the save is in flight when the agent
    // is killed. The restarted agent lets QEMU finish it (killing the writer would wedge QEMU 7.2),
    // then rolls the snapshot back.
    const first = await spawnAgent(scratch.dir, { VMSNAP_AGENT_SAVE_STALL_MS: '4000' });
    children.push(first.child);

    const noToken = await fetch(`${first.url}/v1/command`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'Ping' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(noToken.status).toBe(401);
    const wrong = new HttpAgentClient({ url: first.url, token: 'wrong-token-xxxxxxxxx' });
    await expect(wrong.execute({ kind: 'Ping' })).rejects.toThrow(/401/);
    const client = new HttpAgentClient({ url: first.url, token: TOKEN, timeoutMs: 90_000 });
    expect(await client.healthy()).toBe(true);
    const ping = await client.execute({ kind: 'Ping' });
    expect(ping).toMatchObject({ result: true, hypervisor: 'KVM' });

    const vm = vmSpec('crash1');
    expect((await client.execute({ kind: 'CreateVM', vm })).result).toBe(true);
    expect((await client.execute({ kind: 'StartVM', vm })).result).toBe(true);
    const filesBefore = readdirSync(path.join(scratch.dir, 'pool')).sort();

    const pendingSnapshot = client.execute(createSnap(vm, 'doomed', 'DiskAndMemory'));
    pendingSnapshot.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    while (stateOf(scratch.dir).vms[0]?.pending?.step !== 'saving') {
      if (Date.now() > deadline) throw new Error(`never reached the save:\n${first.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Mid-save: overlays in place, the RAM file open but still empty.
    const vmstate = readdirSync(path.join(scratch.dir, 'pool')).find((f) => f.endsWith('.vmstate'));
    expect(vmstate).toBeDefined();
    expect(statSync(path.join(scratch.dir, 'pool', vmstate!)).size).toBe(0);
    first.child.kill('SIGKILL');
    await waitExit(first.child);
    await expect(pendingSnapshot).rejects.toThrow();

    const restartedAt = Date.now();
    const second = await spawnAgent(scratch.dir);
    console.log(`restart + reconcile took ${Date.now() - restartedAt} ms`);
    children.push(second.child);
    const client2 = new HttpAgentClient({ url: second.url, token: TOKEN });
    const state = stateOf(scratch.dir).vms[0]!;
    expect(state.pending).toBeNull();
    expect(state.snapshots.find((s) => s.name === 'doomed')).toMatchObject({ state: 'Error' });
    expect(
      await client2.execute({
        kind: 'CheckVMSnapshot',
        vmName: 'crash1',
        target: snapTO('doomed', 'DiskAndMemory'),
      }),
    ).toMatchObject({ result: true, exists: false });
    expect(await client2.execute({ kind: 'GetVmStates' })).toMatchObject({
      vms: [{ name: 'crash1', powerState: 'PowerOn' }],
    });
    // Partial files gone: only the two original disks are left in the pool.
    expect(readdirSync(path.join(scratch.dir, 'pool')).sort()).toEqual(filesBefore);

    // Release the QMP socket (the agent holds it), then check the VM directly: running, on its
    // original disks, and its block layer works.
    second.child.kill('SIGTERM');
    await waitExit(second.child);
    const qmp = await QmpClient.connect(path.join(scratch.dir, 'state', 'run', 'crash1.qmp'));
    try {
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
      const tops = await topNodes(qmp);
      expect([...tops.values()].map((t) => path.basename(t.file)).sort()).toEqual(filesBefore);
      expect(await qmp.execute('query-migrate')).toMatchObject({ status: 'completed' });
      await writePattern(qmp, 0, 0x5c, '0', '1M');
      expect(await hasPattern(qmp, 0, 0x5c, '0', '1M')).toBe(true);
    } finally {
      qmp.close();
    }
  }, 180_000);
});
