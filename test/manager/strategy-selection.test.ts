/**
 * Strategy selection: CloudStack's bestMatch (strictly highest priority, ties to the first registered),
 * binding of a snapshot to the strategy that took it, and a strategy loaded from a plugin file on disk.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  StrategyPriority,
  type CanHandleInput,
  type DeleteResult,
  type RevertResult,
  type SnapshotOperation,
  type StrategyContext,
  type TakeResult,
  type VmSnapshotStrategy,
} from '../../src/core/plugin-api.ts';
import { CloudRuntimeError } from '../../src/core/errors.ts';
import { StrategyRegistry } from '../../src/manager/strategy-registry.ts';
import { HypervisorVmSnapshotStrategy } from '../../src/strategies/hypervisor-strategy.ts';
import { reopenApp, waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const INPUT: CanHandleInput = {
  vm: {
    id: 'vm-1',
    instanceName: 'i-2-2-VM',
    displayName: 'web-1',
    state: 'Running',
    hostId: 'h1',
    lastHostId: 'h1',
    zoneId: 'z1',
    hypervisor: 'Simulator',
    memoryMb: 1024,
    cpus: 1,
  },
  volumes: [],
  type: 'Disk',
  quiesce: false,
  drivers: new Map(),
};

function fixed(name: string, priority: StrategyPriority): VmSnapshotStrategy {
  const unused = (): never => {
    throw new Error('not used');
  };
  return {
    name,
    canHandle: () => priority,
    takeVmSnapshot: unused,
    revertVmSnapshot: unused,
    deleteVmSnapshot: unused,
    snapshotExists: unused,
  };
}

/** A working strategy (the hypervisor one underneath) that records which operations reached it. */
class RecordingStrategy implements VmSnapshotStrategy {
  readonly calls: string[] = [];
  private readonly inner = new HypervisorVmSnapshotStrategy();
  constructor(
    readonly name: string,
    private readonly priority: StrategyPriority,
  ) {}
  canHandle(): StrategyPriority {
    return this.priority;
  }
  takeVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult> {
    this.calls.push(`take:${op.snapshot.displayName}`);
    return this.inner.takeVmSnapshot(ctx, op);
  }
  revertVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult> {
    this.calls.push(`revert:${op.snapshot.displayName}`);
    return this.inner.revertVmSnapshot(ctx, op);
  }
  deleteVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult> {
    this.calls.push(`delete:${op.snapshot.displayName}`);
    return this.inner.deleteVmSnapshot(ctx, op);
  }
  snapshotExists(ctx: StrategyContext, op: SnapshotOperation): Promise<boolean> {
    return this.inner.snapshotExists(ctx, op);
  }
}

describe('StrategyRegistry.bestMatch', () => {
  it('orders priorities CANT_HANDLE < DEFAULT < HYPERVISOR < PLUGIN < HIGHEST', () => {
    const p = StrategyPriority;
    expect(p.CANT_HANDLE).toBeLessThan(p.DEFAULT);
    expect(p.DEFAULT).toBeLessThan(p.HYPERVISOR);
    expect(p.HYPERVISOR).toBeLessThan(p.PLUGIN);
    expect(p.PLUGIN).toBeLessThan(p.HIGHEST);
  });

  it('picks the strictly highest priority, wherever it is registered', () => {
    const order: Array<[string, StrategyPriority]> = [
      ['default', StrategyPriority.DEFAULT],
      ['highest', StrategyPriority.HIGHEST],
      ['hypervisor', StrategyPriority.HYPERVISOR],
      ['plugin', StrategyPriority.PLUGIN],
      ['cant', StrategyPriority.CANT_HANDLE],
    ];
    const registry = new StrategyRegistry();
    for (const [name, prio] of order) registry.registerStrategy(fixed(name, prio));
    expect(registry.bestMatch(INPUT)?.name).toBe('highest');

    // Each level beats everything below it.
    for (let i = 1; i < order.length; i++) {
      const below = new StrategyRegistry();
      const sorted = [...order].sort((a, b) => a[1] - b[1]).slice(0, i + 1);
      for (const [name, prio] of sorted) below.registerStrategy(fixed(name, prio));
      expect(below.bestMatch(INPUT)?.name).toBe(sorted[sorted.length - 1]?.[0]);
    }
  });

  it('ties go to the first registered', () => {
    const registry = new StrategyRegistry();
    registry.registerStrategy(fixed('low', StrategyPriority.DEFAULT));
    registry.registerStrategy(fixed('first', StrategyPriority.PLUGIN));
    registry.registerStrategy(fixed('second', StrategyPriority.PLUGIN));
    expect(registry.bestMatch(INPUT)?.name).toBe('first');
  });

  it('returns undefined when nothing does better than CANT_HANDLE (or nothing is registered)', () => {
    expect(new StrategyRegistry().bestMatch(INPUT)).toBeUndefined();
    const registry = new StrategyRegistry();
    registry.registerStrategy(fixed('a', StrategyPriority.CANT_HANDLE));
    registry.registerStrategy(fixed('b', StrategyPriority.CANT_HANDLE));
    expect(registry.bestMatch(INPUT)).toBeUndefined();
  });

  it('refuses two strategies with the same name', () => {
    const registry = new StrategyRegistry();
    registry.registerStrategy(fixed('x', StrategyPriority.DEFAULT));
    expect(() => registry.registerStrategy(fixed('x', StrategyPriority.HIGHEST))).toThrow(
      /already registered/,
    );
  });

  it('boundTo: the recorded strategy, or a clear CloudRuntimeError naming it', () => {
    const registry = new StrategyRegistry();
    registry.registerStrategy(fixed('hypervisor', StrategyPriority.DEFAULT));
    expect(registry.boundTo({ name: 's1', strategy: 'hypervisor' }).name).toBe('hypervisor');
    expect(() => registry.boundTo({ name: 's1', strategy: 'gone' })).toThrow(CloudRuntimeError);
    expect(() => registry.boundTo({ name: 's1', strategy: 'gone' })).toThrow(
      "Can't find Instance Snapshot strategy for vmsnapshot: s1: it was taken by strategy 'gone', which is not " +
        'installed (installed: hypervisor)',
    );
  });
});

describe('a snapshot is bound to the strategy that took it', () => {
  let t: TestApp | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.close();
    t = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('revert and delete go to the recording strategy even after a higher-priority one is registered', async () => {
    const recorder = new RecordingStrategy('recorder', StrategyPriority.HYPERVISOR);
    t = await openTestApp({ strategies: [recorder] });
    const vm = await t.vm('web-1');
    const first = await t.app.snapshotManager.create(t.demo, {
      vmId: vm.id,
      name: 'first',
      snapshotMemory: true,
    });
    expect((await waitJob(t.app, first.jobId)).status).toBe('succeeded');
    expect((await t.app.deps.snapshots.get(first.snapshot.id))?.strategy).toBe('recorder');

    const newcomer = new RecordingStrategy('newcomer', StrategyPriority.HIGHEST);
    t.app.deps.registry.registerStrategy(newcomer);
    const second = await t.app.snapshotManager.create(t.demo, {
      vmId: vm.id,
      name: 'second',
      snapshotMemory: true,
    });
    expect((await waitJob(t.app, second.jobId)).status).toBe('succeeded');
    expect((await t.app.deps.snapshots.get(second.snapshot.id))?.strategy).toBe('newcomer');

    const rev = await t.app.snapshotManager.revert(t.demo, first.snapshot.id);
    expect((await waitJob(t.app, rev.jobId)).status).toBe('succeeded');
    const del = await t.app.snapshotManager.delete(t.demo, first.snapshot.id);
    expect((await waitJob(t.app, del.jobId)).status).toBe('succeeded');

    expect(recorder.calls).toEqual(['take:first', 'revert:first', 'delete:first']);
    expect(newcomer.calls).toEqual(['take:second']);
  });

  it('a clear error when the recorded strategy is no longer installed; the snapshot stays usable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-strategy-'));
    dirs.push(dir);
    const first = await openTestApp({
      dir,
      strategies: [new RecordingStrategy('recorder', StrategyPriority.PLUGIN)],
    });
    const vm = await first.vm('web-1');
    const taken = await first.app.snapshotManager.create(first.demo, {
      vmId: vm.id,
      name: 'orphan',
      snapshotMemory: true,
    });
    expect((await waitJob(first.app, taken.jobId)).status).toBe('succeeded');
    await first.close();

    const reopened = await reopenApp(dir);
    try {
      const { app, demo } = reopened;
      const missing = new RegExp(
        `Can't find Instance Snapshot strategy for vmsnapshot: ${taken.snapshot.name}: it was taken by strategy ` +
          `'recorder', which is not installed \\(installed: hypervisor, storage\\)`,
      );
      const rev = await app.snapshotManager.revert(demo, taken.snapshot.id);
      const revJob = await waitJob(app, rev.jobId);
      expect(revJob.status).toBe('failed');
      expect(revJob.result_code).toBe(530);
      expect(String(revJob.parsed['errortext'])).toMatch(missing);
      expect((await app.deps.snapshots.get(taken.snapshot.id))?.state).toBe('Ready');

      const del = await app.snapshotManager.delete(demo, taken.snapshot.id);
      const delJob = await waitJob(app, del.jobId);
      expect(delJob.status).toBe('failed');
      expect(String(delJob.parsed['errortext'])).toMatch(missing);
      // Refused before any state change: not left stuck in Expunging (which would block the VM).
      expect((await app.deps.snapshots.get(taken.snapshot.id))?.state).toBe('Ready');
      const next = await app.snapshotManager.create(demo, {
        vmId: vm.id,
        name: 'after',
        snapshotMemory: true,
      });
      expect((await waitJob(app, next.jobId)).status).toBe('succeeded');
      expect((await app.deps.snapshots.get(next.snapshot.id))?.strategy).toBe('hypervisor');
    } finally {
      await reopened.app.stop();
    }
  });

  it('a strategy loaded from a plugin module on disk takes the next snapshot and is recorded on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-plugin-'));
    dirs.push(dir);
    const pluginFile = join(dir, 'disk-plugin.ts');
    const repo = resolve(import.meta.dirname, '../..');
    writeFileSync(
      pluginFile,
      [
        `import { StrategyPriority } from '${join(repo, 'src/core/plugin-api.ts')}';`,
        `import { HypervisorVmSnapshotStrategy } from '${join(repo, 'src/strategies/hypervisor-strategy.ts')}';`,
        'const inner = new HypervisorVmSnapshotStrategy();',
        'const calls = [];',
        'globalThis.__diskPluginCalls = calls;',
        'export default {',
        "  name: 'disk-plugin',",
        '  apiVersion: 1,',
        '  register(host, options) {',
        '    host.registerStrategy({',
        '      name: String(options.strategyName),',
        '      canHandle: () => StrategyPriority.PLUGIN,',
        "      takeVmSnapshot: (ctx, op) => { calls.push('take:' + op.snapshot.displayName); return inner.takeVmSnapshot(ctx, op); },",
        "      revertVmSnapshot: (ctx, op) => { calls.push('revert:' + op.snapshot.displayName); return inner.revertVmSnapshot(ctx, op); },",
        "      deleteVmSnapshot: (ctx, op) => { calls.push('delete:' + op.snapshot.displayName); return inner.deleteVmSnapshot(ctx, op); },",
        '      snapshotExists: (ctx, op) => inner.snapshotExists(ctx, op),',
        '    });',
        '  },',
        '};',
        '',
      ].join('\n'),
    );
    t = await openTestApp({ plugins: [{ module: pluginFile, options: { strategyName: 'from-disk' } }] });
    expect(t.app.plugins.map((p) => p.name)).toEqual(['disk-plugin']);
    expect(t.app.deps.registry.strategyNames).toContain('from-disk');
    const vm = await t.vm('web-1');
    const made = await t.app.snapshotManager.create(t.demo, {
      vmId: vm.id,
      name: 'plugged',
      snapshotMemory: true,
    });
    expect((await waitJob(t.app, made.jobId)).status).toBe('succeeded');
    const stored = await t.app.deps.snapshots.get(made.snapshot.id);
    expect(stored?.strategy).toBe('from-disk');
    expect(stored?.state).toBe('Ready');
    expect(t.app.simulator.inspect(vm.instanceName)?.snapshots.map((s) => s.name)).toContain(
      made.snapshot.name,
    );
    const rev = await t.app.snapshotManager.revert(t.demo, made.snapshot.id);
    expect((await waitJob(t.app, rev.jobId)).status).toBe('succeeded');
    const calls = (globalThis as { __diskPluginCalls?: string[] }).__diskPluginCalls;
    expect(calls).toEqual(['take:plugged', 'revert:plugged']);
  });
});
