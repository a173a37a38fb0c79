/**
 * Issue 9, item 2: the host agent (root on its host) takes hostile names, paths and numbers from a
 * caller that holds its token, through its HTTP server, and touches nothing outside its roots.
 *
 * Layout: the agent's roots are `<scratch>/host/agent/data/{pool,state}`, four levels down, so the
 * issue's `../../../../outside/x` lands inside the scratch dir, where the test can see it. The pool
 * holds planted symlinks that point outside. Every test compares a picture of the scratch dir
 * (the two roots left out; modes, sizes, mtimes, link targets) with the one taken at the start.
 * No VM is booted: StartVM only ever names VMs that do not exist.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import type { VmSpecTO } from '../../src/core/plugin-api.ts';
import { createSnap, snapTO, vmSpec } from './agent-fixtures.ts';
import { pictureTree, type TreePicture } from './file-tree.ts';
import { describeQemu, scratchDir } from './helpers.ts';
import { CLIMB, hostileCommandArb } from './hostile-commands.ts';

const TOKEN = 'hostile-test-token-0123456789';

describeQemu('the host agent refuses hostile commands and touches nothing outside its roots', () => {
  const scratch = scratchDir('hostile');
  const data = path.join(scratch.dir, 'host', 'agent', 'data');
  const pool = path.join(data, 'pool');
  const state = path.join(data, 'state');
  const outside = path.join(scratch.dir, 'outside');
  let server: RunningAgentServer;
  let before: TreePicture;

  beforeAll(async () => {
    mkdirSync(pool, { recursive: true });
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'victim.qcow2'), 'not a disk');
    // Planted in the pool: a folder link out of it, a dangling link where a disk would be made,
    // and a link to an existing file outside where another disk would be made.
    symlinkSync(outside, path.join(pool, 'escape'));
    symlinkSync(path.join(outside, 'planted.qcow2'), path.join(pool, 'planted-vd0.qcow2'));
    symlinkSync(path.join(outside, 'victim.qcow2'), path.join(pool, 'taken-vd0.qcow2'));
    server = await startAgentServer({ port: 0, token: TOKEN, stateDir: state, poolDir: pool, accel: 'tcg' });
    before = outsideRoots();
  });
  afterAll(async () => {
    await server?.close();
    scratch.cleanup();
  });

  const outsideRoots = (): TreePicture => pictureTree(scratch.dir, [pool, state]);

  async function send(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${server.url}/v1/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  async function expectRefused(body: unknown, field: string): Promise<void> {
    const { status, json } = await send(body);
    expect({ status, field: json['field'] }).toEqual({ status: 400, field });
    expect(json['error']).toMatch(new RegExp(`refused field ${field.replaceAll('.', '\\.')}`));
    expect(outsideRoots()).toEqual(before);
  }

  const withVolumePath = (spec: VmSpecTO, file: string): VmSpecTO => ({
    ...spec,
    volumes: [{ ...spec.volumes[0]!, path: file }],
  });

  it('CreateVM and StartVM with the name ../../../../outside/x', async () => {
    await expectRefused({ kind: 'CreateVM', vm: { ...vmSpec('ok'), name: CLIMB } }, 'vm.name');
    await expectRefused({ kind: 'StartVM', vm: { ...vmSpec('ok'), name: CLIMB } }, 'vm.name');
    expect(existsSync(path.join(outside, 'x-vd0.qcow2'))).toBe(false);
  });

  it('a snapshot whose target name (or a parent name) climbs out of the pool', async () => {
    const vm = vmSpec('good');
    expect((await send({ kind: 'CreateVM', vm })).json).toMatchObject({ result: true });
    const climbing = `x/${CLIMB}`;
    await expectRefused({ ...createSnap(vm, 's1'), target: snapTO(climbing) }, 'target.name');
    await expectRefused(
      { ...createSnap(vm, 's1'), target: { ...snapTO('s1'), parent: snapTO(climbing) } },
      'target.parent.name',
    );
    await expectRefused(
      { kind: 'RevertToVMSnapshot', vmName: 'good', vmUuid: vm.uuid, target: snapTO(climbing), volumes: [] },
      'target.name',
    );
    await expectRefused(
      { kind: 'DeleteVMSnapshot', vmName: 'good', target: snapTO(climbing), volumes: [] },
      'target.name',
    );
  });

  it('StopVM and DestroyVM of ../../../../outside/x', async () => {
    await expectRefused({ kind: 'StopVM', vmName: CLIMB, force: true }, 'vmName');
    await expectRefused({ kind: 'DestroyVM', vmName: CLIMB }, 'vmName');
  });

  it('absolute volume paths outside the pool, through a planted link, or onto the state file', async () => {
    const field = 'vm.volumes.0.path';
    await expectRefused(
      { kind: 'CreateVM', vm: withVolumePath(vmSpec('abs1'), path.join(outside, 'abs.qcow2')) },
      field,
    );
    await expectRefused(
      { kind: 'CreateVM', vm: withVolumePath(vmSpec('abs2'), path.join(pool, 'escape', 'v.qcow2')) },
      field,
    );
    await expectRefused(
      { kind: 'CreateVM', vm: withVolumePath(vmSpec('abs3'), path.join(pool, 'planted-vd0.qcow2')) },
      field,
    );
    await expectRefused(
      { kind: 'CreateVM', vm: withVolumePath(vmSpec('abs4'), path.join(state, 'qemu-agent-state.json')) },
      field,
    );
    const vm = withVolumePath(vmSpec('abs5'), path.join(outside, 'victim.qcow2'));
    await expectRefused({ ...createSnap(vm, 's1'), volumes: vm.volumes }, 'volumes.0.path');
  });

  it('a poolPath outside the pool, or through a planted link', async () => {
    await expectRefused({ kind: 'CreateVM', vm: vmSpec('pp1'), poolPath: outside }, 'poolPath');
    await expectRefused(
      { kind: 'CreateVM', vm: vmSpec('pp2'), poolPath: path.join(pool, 'escape') },
      'poolPath',
    );
    await expectRefused(
      { kind: 'CreateVM', vm: vmSpec('pp3'), poolPath: path.join(pool, 'escape', 'sub') },
      'poolPath',
    );
    await expectRefused({ kind: 'CreateVM', vm: vmSpec('pp4'), poolPath: state }, 'poolPath');
    // Inside the pool it works, and the new folder is private.
    const { json } = await send({ kind: 'CreateVM', vm: vmSpec('pp5'), poolPath: path.join(pool, 'sub') });
    expect(json).toMatchObject({ result: true });
    expect(
      (json['volumes'] as { path: string }[])[0]!.path.startsWith(path.join(pool, 'sub') + path.sep),
    ).toBe(true);
  });

  it('memoryMb "64,maxmem=1G,slots=2" and other numbers that are not bounded integers', async () => {
    await expectRefused(
      { kind: 'CreateVM', vm: { ...vmSpec('m1'), memoryMb: '64,maxmem=1G,slots=2' } },
      'vm.memoryMb',
    );
    await expectRefused(
      { kind: 'StartVM', vm: { ...vmSpec('m1'), memoryMb: '64,maxmem=1G,slots=2' } },
      'vm.memoryMb',
    );
    await expectRefused({ kind: 'CreateVM', vm: { ...vmSpec('m2'), cpus: 1.5 } }, 'vm.cpus');
    await expectRefused({ kind: 'CreateVM', vm: withSize(vmSpec('m3'), 1e300) }, 'vm.volumes.0.size');
  });

  it('a disk name taken by a planted link is not written through', async () => {
    // pool/planted-vd0.qcow2 is a dangling link to outside/planted.qcow2: qemu-img used to follow it.
    const planted = await send({ kind: 'CreateVM', vm: vmSpec('planted', 1) });
    expect(planted.json).toMatchObject({ result: false });
    const taken = await send({ kind: 'CreateVM', vm: vmSpec('taken', 1) });
    expect(taken.json).toMatchObject({ result: false });
    expect(existsSync(path.join(outside, 'planted.qcow2'))).toBe(false);
    expect(outsideRoots()).toEqual(before);
  });

  it('property: generated hostile commands never touch a file outside the roots', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostileCommandArb({ pool, state, outside }), { minLength: 1, maxLength: 8 }),
        async (commands) => {
          for (const command of commands) {
            // Compared per command, so a failure (and its shrinking) names the command at fault.
            const pre = outsideRoots();
            const { status, json } = await send(command);
            expect([200, 400]).toContain(status);
            if (status === 400) expect(typeof json['field']).toBe('string');
            expect(outsideRoots()).toEqual(pre);
          }
          expect(outsideRoots()).toEqual(before);
        },
      ),
      { numRuns: 30 },
    );
  });
});

function withSize(spec: VmSpecTO, size: number): VmSpecTO {
  return { ...spec, volumes: [{ ...spec.volumes[0]!, size }] };
}
