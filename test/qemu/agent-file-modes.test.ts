/**
 * Issue 9, item 6 (agent side): the agent's folders are 0700 and every file it makes (disks,
 * overlays, RAM state files, its state file, the VM's console log and pidfile) 0600, set
 * explicitly: the test runs under umask 022, where files would otherwise come out 0644.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, revertSnap, vmSpec } from './agent-fixtures.ts';
import { describeQemu, scratchDir } from './helpers.ts';

const modeOf = (file: string): string => (statSync(file).mode & 0o777).toString(8);

describeQemu('QEMU host agent: private folders and files', () => {
  const scratch = scratchDir('modes');
  const stateDir = path.join(scratch.dir, 'state');
  const poolDir = path.join(scratch.dir, 'pool');
  const stateFile = path.join(stateDir, 'qemu-agent-state.json');
  let agent: QemuHostAgent;
  let umask: number;

  beforeAll(async () => {
    umask = process.umask(0o022);
    // What an older agent left: open folders and a world-readable state file.
    mkdirSync(stateDir, { mode: 0o755 });
    mkdirSync(poolDir, { mode: 0o755 });
    writeFileSync(stateFile, JSON.stringify({ version: 1, vms: [] }), { mode: 0o644 });
    agent = new QemuHostAgent({ stateDir, poolDir, accel: 'tcg' });
    await agent.init();
  });
  afterAll(async () => {
    await agent?.stopAll();
    process.umask(umask);
    scratch.cleanup();
  });

  const ok = async (answer: Promise<{ result: boolean; details?: string }>) => {
    const a = await answer;
    if (!a.result) throw new Error(a.details);
    return a;
  };

  it('tightens the state, run and pool folders and the state file it finds', () => {
    expect([stateDir, path.join(stateDir, 'run'), poolDir].map(modeOf)).toEqual(['700', '700', '700']);
    expect(modeOf(stateFile)).toBe('600');
  });

  it('creates disks, overlays, folders and its state file private', async () => {
    const vm = vmSpec('modes1');
    await ok(agent.execute({ kind: 'CreateVM', vm }));
    await ok(
      agent.execute({ kind: 'CreateVM', vm: vmSpec('modes2', 1), poolPath: path.join(poolDir, 'sub') }),
    );
    await ok(agent.execute(createSnap(vm, 's1')));
    await ok(agent.execute(revertSnap(vm, 's1')));
    expect(modeOf(path.join(poolDir, 'sub'))).toBe('700');
    const files = [
      ...readdirSync(poolDir).filter((f) => f.endsWith('.qcow2')),
      ...readdirSync(path.join(poolDir, 'sub')).map((f) => path.join('sub', f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(5); // modes1's disks and overlays, modes2's disk in sub/
    for (const f of files) expect(`${f} ${modeOf(path.join(poolDir, f))}`).toBe(`${f} 600`);
    expect(modeOf(stateFile)).toBe('600');
  });

  it("a running VM's console log and pidfile, its live overlays and its RAM state file", async () => {
    const vm = vmSpec('modes3', 1);
    await ok(agent.execute({ kind: 'CreateVM', vm }));
    await ok(agent.execute({ kind: 'StartVM', vm }));
    await ok(agent.execute(createSnap(vm, 'disk1')));
    await ok(agent.execute(createSnap(vm, 'mem1', 'DiskAndMemory', { memoryMode: 'live' })));
    const run = path.join(stateDir, 'run');
    expect([modeOf(path.join(run, 'modes3.pid')), modeOf(path.join(run, 'modes3.serial'))]).toEqual([
      '600',
      '600',
    ]);
    const mine = readdirSync(poolDir).filter((f) => f.startsWith('modes3'));
    expect(mine.some((f) => f.endsWith('.vmstate'))).toBe(true);
    for (const f of mine) expect(`${f} ${modeOf(path.join(poolDir, f))}`).toBe(`${f} 600`);
  });
});
