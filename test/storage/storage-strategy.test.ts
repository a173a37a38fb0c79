import { afterEach, describe, expect, it, vi } from 'vitest';
import { StrategyPriority, type StorageDriver, type VolumeInfo } from '../../src/core/plugin-api.ts';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { ArrayStorageDriver } from '../../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray, type RevertMode } from '../../examples/vendor-array-plugin/src/simulated-array.ts';
import {
  FakeGuestGateway,
  fakeContext,
  makeOp,
  makeSnapshot,
  makeVm,
  makeVolumes,
  withRecords,
  type GuestBehaviour,
} from './fake-strategy-context.ts';
import { PerVolumeDriver } from './per-volume-driver.ts';
import { until } from '../helpers/eventually.ts';
import { settlesAt } from '../helpers/fake-clock.ts';

const strategy = new StorageVmSnapshotStrategy();
const gateways: FakeGuestGateway[] = [];

afterEach(() => {
  for (const g of gateways.splice(0)) g.dispose();
  vi.useRealTimers();
});

function arrayDriver(name: string, latencyMs = 0, revertMode: RevertMode = 'any'): ArrayStorageDriver {
  return new ArrayStorageDriver(new SimulatedArray({ stateFile: null, latencyMs, revertMode }), { name });
}

function gateway(behaviour: Partial<GuestBehaviour> = {}): FakeGuestGateway {
  const g = new FakeGuestGateway(behaviour);
  gateways.push(g);
  return g;
}

/** Records when each group call on `driver` starts and ends. */
function timeGroupCalls(driver: ArrayStorageDriver): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  const original = driver.takeVmSnapshot.bind(driver);
  driver.takeVmSnapshot = async (volumes, ref) => {
    const span = { start: Date.now(), end: 0 };
    spans.push(span);
    try {
      return await original(volumes, ref);
    } finally {
      span.end = Date.now();
    }
  };
  return spans;
}

async function arraySnapshots(driver: ArrayStorageDriver, volumes: readonly VolumeInfo[]): Promise<string[]> {
  const lists = await Promise.all(volumes.map((v) => driver.listVolumeSnapshots(v)));
  return lists.flat();
}

describe('canHandle', () => {
  const arrays = arrayDriver('array');
  const plain = new PerVolumeDriver('plain');
  const cannot = new PerVolumeDriver('iscsi', 0, { canSnapshot: false });
  const drivers = new Map<string, StorageDriver>([
    ['array', arrays],
    ['plain', plain],
    ['iscsi', cannot],
  ]);
  const input = (volumes: VolumeInfo[], type: 'Disk' | 'DiskAndMemory' = 'Disk') => ({
    vm: makeVm(),
    volumes,
    type,
    quiesce: true,
    drivers,
  });

  it('takes disk-only snapshots above the hypervisor default when every driver can snapshot', () => {
    const priority = strategy.canHandle(input(makeVolumes('array', 2)));
    expect(priority).toBe(StrategyPriority.PLUGIN);
    expect(priority).toBeGreaterThan(StrategyPriority.HYPERVISOR);
  });

  it('handles volumes spread over drivers when all of them can snapshot', () => {
    expect(strategy.canHandle(input([...makeVolumes('array', 1), ...makeVolumes('plain', 2)]))).toBe(
      StrategyPriority.PLUGIN,
    );
  });

  it('declines memory snapshots', () => {
    expect(strategy.canHandle(input(makeVolumes('array', 1), 'DiskAndMemory'))).toBe(
      StrategyPriority.CANT_HANDLE,
    );
  });

  it('declines when one volume is on a driver that cannot snapshot, or on an unknown driver', () => {
    expect(strategy.canHandle(input([...makeVolumes('array', 1), ...makeVolumes('iscsi', 1)]))).toBe(
      StrategyPriority.CANT_HANDLE,
    );
    expect(strategy.canHandle(input([...makeVolumes('array', 1), ...makeVolumes('nfs', 1)]))).toBe(
      StrategyPriority.CANT_HANDLE,
    );
  });

  it('declines a VM without volumes', () => {
    expect(strategy.canHandle(input([]))).toBe(StrategyPriority.CANT_HANDLE);
  });
});

describe('take across two drivers', () => {
  it('calls each driver once, concurrently, inside a single freeze and thaw', async () => {
    const a = arrayDriver('array-a', 40);
    const b = arrayDriver('array-b', 40);
    const spansA = timeGroupCalls(a);
    const spansB = timeGroupCalls(b);
    const g = gateway({ freezeDelayMs: 2, thawDelayMs: 2 });
    const ctx = fakeContext({
      gateway: g,
      drivers: [a, b],
      settings: { 'vmsnapshot.freeze.budget': '5000' },
    });
    const volumes = [...makeVolumes('array-a', 3), ...makeVolumes('array-b', 2)];

    const result = await strategy.takeVmSnapshot(ctx, makeOp(volumes));

    expect(a.array.callCount('take')).toBe(1);
    expect(b.array.callCount('take')).toBe(1);
    const [spanA] = spansA;
    const [spanB] = spansB;
    expect(spanA!.start).toBeLessThan(spanB!.end);
    expect(spanB!.start).toBeLessThan(spanA!.end);

    const freezes = g.commands('FreezeThaw', 'freeze');
    const thaws = g.commands('FreezeThaw', 'thaw');
    expect(g.commands('GuestPing')).toHaveLength(1);
    expect(freezes).toHaveLength(1);
    expect(thaws).toHaveLength(1);
    expect(freezes[0]!.command).toMatchObject({ vmName: 'i-2-10-VM', budgetMs: 5000 });
    expect(freezes[0]!.at).toBeLessThanOrEqual(Math.min(spanA!.start, spanB!.start));
    expect(thaws[0]!.at).toBeGreaterThanOrEqual(Math.max(spanA!.end, spanB!.end));
    expect(g.frozen).toBe(false);

    expect(result.records).toHaveLength(5);
    for (const record of result.records) {
      const driver = record.driver === 'array-a' ? a : b;
      const volume = volumes.find((v) => v.id === record.volumeId)!;
      expect(record.path).toBe(volume.path);
      expect(await driver.listVolumeSnapshots(volume)).toEqual([record.ref]);
    }
    expect(result.volumeUpdates).toEqual([]);
    expect(result.facts).toMatchObject({
      consistency: 'application-consistent',
      drivers: ['array-a', 'array-b'],
      thaw: 'ok',
    });
    expect(result.facts!.driverMs!['array-a']).toBeGreaterThanOrEqual(38);
    expect(result.facts!.driverMs!['array-b']).toBeGreaterThanOrEqual(38);
    // The window holds both calls. That they ran side by side is the overlap of their spans above
    // (a fact), not an absolute limit on the window (a busy CI machine stretched 40 ms to 92).
    const windowMs = Number(result.facts!.freezeWindowMs);
    expect(windowMs).toBeGreaterThanOrEqual(
      Math.max(Number(result.facts!.driverMs!['array-a']), Number(result.facts!.driverMs!['array-b'])),
    );
    expect(ctx.phases.map((p) => p.name)).toEqual(['quiesce', 'snapshot', 'thaw']);
    expect(ctx.checkpoints.map((c) => c.step)).toEqual(['quiesce', 'snapshot', 'snapshot-taken']);
  });

  it('falls back to one call per volume for a driver without group methods', async () => {
    const plain = new PerVolumeDriver('plain', 20);
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: gateway(), drivers: [a, plain] });
    const volumes = [...makeVolumes('plain', 3), ...makeVolumes('array-a', 1)];
    const op = makeOp(volumes);

    const result = await strategy.takeVmSnapshot(ctx, op);

    const takes = plain.callsOf('takeVolumeSnapshot');
    expect(takes.map((c) => c.volumeId).sort()).toEqual(['plain-vol-0', 'plain-vol-1', 'plain-vol-2']);
    // The per-volume calls run side by side too.
    expect(Math.max(...takes.map((c) => c.start))).toBeLessThan(Math.min(...takes.map((c) => c.end)));
    expect(result.records.filter((r) => r.driver === 'plain').map((r) => r.ref)).toEqual(
      volumes.slice(0, 3).map((v) => plain.refsOf(v.id)[0]),
    );

    const ready = { ...op, snapshot: withRecords(op, result.records) };
    await strategy.revertVmSnapshot(ctx, ready);
    expect(plain.callsOf('revertVolumeSnapshot')).toHaveLength(3);
    await strategy.deleteVmSnapshot(ctx, ready);
    expect(plain.callsOf('deleteVolumeSnapshot')).toHaveLength(3);
    expect(volumes.slice(0, 3).flatMap((v) => plain.refsOf(v.id))).toEqual([]);
  });

  it('skips the thaw when every driver says it already released the guest', async () => {
    const selfThawing: StorageDriver = Object.assign(new PerVolumeDriver('self'), {
      async takeVmSnapshot(volumes: readonly VolumeInfo[]) {
        return { volumes: volumes.map((v) => ({ volumeId: v.id, ref: `r-${v.id}` })), needsUnquiesce: false };
      },
    });
    const g = gateway();
    const ctx = fakeContext({ gateway: g, drivers: [selfThawing] });
    const result = await strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('self', 2)));
    expect(g.commands('FreezeThaw', 'freeze')).toHaveLength(1);
    expect(g.commands('FreezeThaw', 'thaw')).toHaveLength(0);
    expect(result.facts).toMatchObject({ thaw: 'not-needed', consistency: 'application-consistent' });
  });
});

describe('quiesce policy', () => {
  it('quiesce=false never talks to the guest agent and says crash-consistent', async () => {
    const g = gateway();
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a] });
    const result = await strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 2), { quiesce: false }));
    expect(g.sent).toEqual([]);
    expect(result.facts).toMatchObject({
      consistency: 'crash-consistent',
      freezeWindowMs: 0,
      thaw: 'not-frozen',
    });
    expect(a.array.callCount('take')).toBe(1);
  });

  it('quiesce=true without a guest agent fails clearly and snapshots nothing', async () => {
    const g = gateway({ agent: 'absent' });
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a] });
    await expect(strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 2)))).rejects.toThrow(
      'Cannot quiesce VM web1: the QEMU guest agent is not reachable',
    );
    expect(a.array.callCount('take')).toBe(0);
    expect(g.commands('FreezeThaw')).toEqual([]);
  });

  it('an unreachable host agent counts as no guest agent', async () => {
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: gateway({ agent: 'unreachable' }), drivers: [a] });
    await expect(strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1)))).rejects.toThrow(
      /guest agent is not reachable \(host agent unreachable\)/,
    );
    expect(a.array.callCount('take')).toBe(0);
  });

  it('best-effort (request option) takes it without the agent and records no-guest-agent', async () => {
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: gateway({ agent: 'absent' }), drivers: [a] });
    const op = makeOp(makeVolumes('array-a', 2), { options: { quiescePolicy: 'best-effort' } });
    const result = await strategy.takeVmSnapshot(ctx, op);
    expect(result.facts).toMatchObject({ consistency: 'no-guest-agent', quiescePolicy: 'best-effort' });
    expect(result.records.every((r) => r.ref !== null)).toBe(true);
    expect(ctx.warnings.some((w) => w.includes('crash-consistent'))).toBe(true);
  });

  it('best-effort can come from the setting', async () => {
    const a = arrayDriver('array-a');
    const ctx = fakeContext({
      gateway: gateway({ agent: 'absent' }),
      drivers: [a],
      settings: { 'vmsnapshot.quiesce.policy': 'best-effort' },
    });
    const result = await strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1)));
    expect(result.facts!.consistency).toBe('no-guest-agent');
  });

  it('rejects an unknown policy in the setting (the request option is typed, checked by the API)', async () => {
    const ctx = fakeContext({
      gateway: gateway(),
      drivers: [arrayDriver('array-a')],
      settings: { 'vmsnapshot.quiesce.policy': 'sometimes' },
    });
    await expect(strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1)))).rejects.toThrow(
      'Invalid setting vmsnapshot.quiesce.policy sometimes: use required or best-effort',
    );
  });

  it('uses the 10 s default budget when the setting is not registered', async () => {
    const g = gateway();
    const ctx = fakeContext({ gateway: g, drivers: [arrayDriver('array-a')] });
    const noBudget = { ...ctx, numberSetting: () => Number.NaN };
    await strategy.takeVmSnapshot(noBudget, makeOp(makeVolumes('array-a', 1)));
    expect(g.commands('FreezeThaw', 'freeze')[0]!.command).toMatchObject({ budgetMs: 10_000 });
  });

  it('does not freeze a stopped VM', async () => {
    const g = gateway();
    const ctx = fakeContext({ gateway: g, drivers: [arrayDriver('array-a')] });
    const op = makeOp(makeVolumes('array-a', 1), { vm: makeVm({ state: 'Stopped', hostId: null }) });
    const result = await strategy.takeVmSnapshot(ctx, op);
    expect(g.sent).toEqual([]);
    expect(result.facts!.consistency).toBe('application-consistent');
  });
});

describe('failure points', () => {
  it('freeze fails under required: error, nothing snapshotted, guest not left frozen', async () => {
    const g = gateway({ freeze: 'fail' });
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a] });
    await expect(strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 2)))).rejects.toThrow(
      /Cannot quiesce VM web1: guest agent freeze failed: guest-fsfreeze-freeze failed/,
    );
    expect(a.array.callCount('take')).toBe(0);
    expect(g.commands('FreezeThaw', 'thaw')).toHaveLength(1);
    expect(g.frozen).toBe(false);
  });

  it('freeze fails under best-effort: crash-consistent snapshot', async () => {
    const g = gateway({ freeze: 'fail' });
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a] });
    const op = makeOp(makeVolumes('array-a', 2), { options: { quiescePolicy: 'best-effort' } });
    const result = await strategy.takeVmSnapshot(ctx, op);
    expect(result.facts).toMatchObject({ consistency: 'crash-consistent', freezeWindowMs: 0 });
    expect(result.facts!.quiesceNote).toMatch(/freeze failed/);
    expect(a.array.callCount('take')).toBe(1);
  });

  it('a hung freeze times out within the budget; required fails, the guest ends thawed', async () => {
    const g = gateway({ freeze: 'hang' });
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a], settings: { 'vmsnapshot.freeze.budget': '150' } });
    vi.useFakeTimers();
    // On the fake clock: still waiting 1 ms before the budget, given up exactly at it.
    const taking = settlesAt(150, strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1))));
    await expect(taking).rejects.toThrow(/guest agent freeze did not complete: no answer within 150 ms/);
    expect(a.array.callCount('take')).toBe(0);
    expect(g.frozen).toBe(false);
    expect(g.thawedBy).toBe('command');
  });

  it('a hung freeze under best-effort continues as quiesce-timed-out and thaws first', async () => {
    const g = gateway({ freeze: 'hang' });
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a], settings: { 'vmsnapshot.freeze.budget': '100' } });
    const op = makeOp(makeVolumes('array-a', 2), { options: { quiescePolicy: 'best-effort' } });
    const result = await strategy.takeVmSnapshot(ctx, op);
    expect(result.facts!.consistency).toBe('quiesce-timed-out');
    expect(result.records.every((r) => r.ref !== null)).toBe(true);
    const thaw = g.commands('FreezeThaw', 'thaw')[0]!;
    expect(g.frozen).toBe(false);
    // Thawed before the array was asked to cut.
    expect(a.array.callCount('take')).toBe(1);
    expect(thaw.at).toBeLessThanOrEqual(Date.now());
  });

  it('one driver fails after another succeeded: rollback, guest thawed once, error names it', async () => {
    const fast = arrayDriver('array-a', 5);
    const slow = arrayDriver('array-b', 30);
    slow.array.failNext({ op: 'take', count: 1, message: 'array-b controller offline' });
    const g = gateway();
    const ctx = fakeContext({ gateway: g, drivers: [fast, slow] });
    const volumesA = makeVolumes('array-a', 2);
    const op = makeOp([...volumesA, ...makeVolumes('array-b', 1)]);

    const error = await strategy.takeVmSnapshot(ctx, op).then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toMatch(
      /^VM snapshot snap\d+ of VM web1 failed: storage driver array-b failed: array-b controller offline; rolled back 2 volume snapshot\(s\)$/,
    );
    expect(await arraySnapshots(fast, volumesA)).toEqual([]);
    expect(fast.array.callCount('delete')).toBe(1); // one group delete, not one per volume
    expect(g.commands('FreezeThaw', 'thaw')).toHaveLength(1);
    expect(g.frozen).toBe(false);
    // Thawed as soon as the cut was over, before the rollback ran.
    expect(ctx.phases.map((p) => p.name)).toEqual(['quiesce', 'snapshot', 'thaw', 'rollback']);
  });

  it('a per-volume fallback that fails halfway rolls back its own successful volumes', async () => {
    const plain = new PerVolumeDriver('plain', 5);
    plain.failTakeOn.add('plain-vol-1');
    const ctx = fakeContext({ gateway: gateway(), drivers: [plain] });
    const volumes = makeVolumes('plain', 3);
    await expect(strategy.takeVmSnapshot(ctx, makeOp(volumes))).rejects.toThrow(
      /storage driver plain failed: plain-disk-1: volume plain-vol-1 is busy; rolled back 2 volume snapshot\(s\)/,
    );
    expect(volumes.flatMap((v) => plain.refsOf(v.id))).toEqual([]);
    expect(plain.callsOf('deleteVolumeSnapshot')).toHaveLength(2);
  });

  it('a rollback that fails too is reported with the snapshots left behind', async () => {
    const fast = arrayDriver('array-a');
    const broken = arrayDriver('array-b');
    broken.array.failNext({ op: 'take', count: 1 });
    fast.array.failNext({ op: 'delete', count: 1, message: 'array-a busy' });
    const ctx = fakeContext({ gateway: gateway(), drivers: [fast, broken] });
    const op = makeOp([...makeVolumes('array-a', 1), ...makeVolumes('array-b', 1)]);
    await expect(strategy.takeVmSnapshot(ctx, op)).rejects.toThrow(
      /rollback failed, volume snapshots left on storage: array-a: snap-\d+ \(array-a busy\)/,
    );
  });

  it('a failed thaw keeps the snapshot, records it, and the agent watchdog thaws the guest', async () => {
    const g = gateway({ thaw: 'fail' });
    const a = arrayDriver('array-a', 5);
    const ctx = fakeContext({ gateway: g, drivers: [a], settings: { 'vmsnapshot.freeze.budget': '120' } });
    const result = await strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 2)));
    expect(result.facts).toMatchObject({
      thaw: 'failed (watchdog)',
      consistency: 'application-consistent',
    });
    expect(result.records.every((r) => r.ref !== null)).toBe(true);
    expect(await a.array.listSnapshots('array-a-vol-0')).toHaveLength(1);
    expect(ctx.warnings.some((w) => w.includes('watchdog'))).toBe(true);
    expect(g.frozen).toBe(true);
    await until(() => !g.frozen, 'the agent watchdog to thaw the guest');
    expect(g.thawedBy).toBe('watchdog');
  });

  it('a thaw that hangs is bounded by the budget', async () => {
    const g = gateway({ thaw: 'hang' });
    const ctx = fakeContext({
      gateway: g,
      drivers: [arrayDriver('array-a')],
      settings: { 'vmsnapshot.freeze.budget': '100' },
    });
    vi.useFakeTimers();
    const result = await settlesAt(100, strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1))));
    expect(result.facts!.thaw).toBe('failed (watchdog)');
  });

  it('a cut that outlives the freeze budget fails under required and rolls back', async () => {
    const g = gateway();
    const slow = arrayDriver('array-a', 120);
    const ctx = fakeContext({ gateway: g, drivers: [slow], settings: { 'vmsnapshot.freeze.budget': '60' } });
    const volumes = makeVolumes('array-a', 2);
    await expect(strategy.takeVmSnapshot(ctx, makeOp(volumes))).rejects.toThrow(
      /cannot guarantee a quiesced snapshot: the cut took \d+ ms, past the 60 ms freeze budget; rolled back 2/,
    );
    expect(await arraySnapshots(slow, volumes)).toEqual([]);
  });

  it('a cut that outlives the freeze budget is kept as quiesce-timed-out under best-effort', async () => {
    const slow = arrayDriver('array-a', 120);
    const ctx = fakeContext({
      gateway: gateway(),
      drivers: [slow],
      settings: { 'vmsnapshot.freeze.budget': '60' },
    });
    const op = makeOp(makeVolumes('array-a', 1), { options: { quiescePolicy: 'best-effort' } });
    const result = await strategy.takeVmSnapshot(ctx, op);
    expect(result.facts!.consistency).toBe('quiesce-timed-out');
  });

  it('thaws in a finally even when the cut itself throws', async () => {
    const g = gateway();
    const a = arrayDriver('array-a');
    const ctx = fakeContext({ gateway: g, drivers: [a] });
    const failing = {
      ...ctx,
      async checkpoint(step: string) {
        if (step === 'snapshot') throw new Error('database is locked');
      },
    };
    await expect(strategy.takeVmSnapshot(failing, makeOp(makeVolumes('array-a', 1)))).rejects.toThrow(
      'database is locked',
    );
    expect(g.commands('FreezeThaw', 'thaw')).toHaveLength(1);
    expect(g.frozen).toBe(false);
    expect(a.array.callCount('take')).toBe(0);
  });

  it('fails up front when a volume driver is not loaded', async () => {
    const g = gateway();
    const ctx = fakeContext({ gateway: g, drivers: [] });
    await expect(strategy.takeVmSnapshot(ctx, makeOp(makeVolumes('array-a', 1)))).rejects.toThrow(
      'Storage driver array-a is not loaded',
    );
    expect(g.sent).toEqual([]);
  });
});

describe('revert, delete and existence', () => {
  async function takeTwo(revertMode: RevertMode) {
    const a = arrayDriver('array-a', 0, revertMode);
    const ctx = fakeContext({ gateway: gateway(), drivers: [a] });
    const volumes = makeVolumes('array-a', 2);
    a.array.writeVolume({ volumeId: volumes[0]!.id, poolId: volumes[0]!.poolId, size: 1 }, 'v1');
    const op1 = makeOp(volumes);
    const first = withRecords(op1, (await strategy.takeVmSnapshot(ctx, op1)).records);
    a.array.writeVolume({ volumeId: volumes[0]!.id, poolId: volumes[0]!.poolId, size: 1 }, 'v2');
    const op2 = makeOp(volumes);
    const second = withRecords(op2, (await strategy.takeVmSnapshot(ctx, op2)).records);
    a.array.writeVolume({ volumeId: volumes[0]!.id, poolId: volumes[0]!.poolId, size: 1 }, 'v3');
    const siblings = [first, second];
    const opFor = (snapshot: typeof first) => makeOp(volumes, { snapshot, siblings });
    return { a, ctx, volumes, first, second, opFor };
  }

  it('refuses up front to revert past newer snapshots on a latest-only driver, naming them', async () => {
    const { a, ctx, first, second, opFor } = await takeTwo('latest-only');
    // Each volume's driver answers canRevert; the refusal names every volume and what blocks it.
    const volumeRefused = (i: number): string =>
      `volume array-a-disk-${i} on storage driver array-a: the array can only revert to the latest snapshot; ` +
      `blocked by: ${second.displayName} \\(snap-\\d+\\)`;
    const refused = new RegExp(
      `^Cannot revert to ${first.displayName}: ${volumeRefused(0)}; ${volumeRefused(1)}$`,
    );
    await expect(strategy.validateRevert(ctx, opFor(first))).rejects.toThrow(refused);
    await expect(strategy.revertVmSnapshot(ctx, opFor(first))).rejects.toThrow(refused);
    expect(a.array.callCount('revert')).toBe(0);
    expect(a.array.getVolume('array-a-vol-0')?.data).toBe('v3');

    await strategy.validateRevert(ctx, opFor(second));
    const result = await strategy.revertVmSnapshot(ctx, opFor(second));
    expect(result.powerState).toBe('PowerOff');
    expect(a.array.getVolume('array-a-vol-0')?.data).toBe('v2');
    expect(a.array.callCount('revert')).toBe(1);
  });

  it('blockers without a known owner are shown by ref', async () => {
    const { ctx, first, volumes } = await takeTwo('latest-only');
    const op = makeOp(volumes, { snapshot: first, siblings: [first] });
    await expect(strategy.validateRevert(ctx, op)).rejects.toThrow(
      /latest snapshot; blocked by: snap-\d+; volume array-a-disk-1 .*; blocked by: snap-\d+$/,
    );
  });

  it('reverts to an older snapshot on an any-revert driver', async () => {
    const { a, ctx, first, opFor } = await takeTwo('any');
    await strategy.validateRevert(ctx, opFor(first));
    await strategy.revertVmSnapshot(ctx, opFor(first));
    expect(a.array.getVolume('array-a-vol-0')?.data).toBe('v1');
  });

  it('refuses a revert whose storage snapshot is gone', async () => {
    const { ctx, first, opFor } = await takeTwo('any');
    await strategy.deleteVmSnapshot(ctx, opFor(first));
    await expect(strategy.validateRevert(ctx, opFor(first))).rejects.toThrow(
      /^Cannot revert to snap\d+: volume array-a-disk-0 on storage driver array-a: snapshot snap-\d+ no longer exists on the array; /,
    );
  });

  it('delete is idempotent and snapshotExists follows the storage', async () => {
    const { a, ctx, first, second, opFor } = await takeTwo('any');
    expect(await strategy.snapshotExists(ctx, opFor(first))).toBe(true);
    await expect(strategy.deleteVmSnapshot(ctx, opFor(first))).resolves.toEqual({
      outcome: 'deleted',
      volumeUpdates: [],
    });
    await strategy.deleteVmSnapshot(ctx, opFor(first));
    expect(await strategy.snapshotExists(ctx, opFor(first))).toBe(false);
    expect(await strategy.snapshotExists(ctx, opFor(second))).toBe(true);
    expect(a.array.callCount('delete')).toBe(2);
  });

  it('snapshotExists is false for a snapshot without records', async () => {
    const ctx = fakeContext({ gateway: gateway(), drivers: [arrayDriver('array-a')] });
    expect(
      await strategy.snapshotExists(ctx, makeOp(makeVolumes('array-a', 1), { snapshot: makeSnapshot() })),
    ).toBe(false);
  });

  it('deletes the snapshots of a volume detached since', async () => {
    const { a, ctx, first, volumes } = await takeTwo('any');
    const op = makeOp(volumes.slice(0, 1), { snapshot: first });
    await strategy.deleteVmSnapshot(ctx, op);
    expect(await a.array.listSnapshots(volumes[1]!.id)).toHaveLength(1); // only the second snapshot's
  });

  it('delete fails clearly when the driver is not loaded', async () => {
    const { first, opFor } = await takeTwo('any');
    const ctx = fakeContext({ gateway: gateway(), drivers: [] });
    await expect(strategy.deleteVmSnapshot(ctx, opFor(first))).rejects.toThrow(
      'Storage driver array-a is not loaded',
    );
  });

  it('a failed driver delete is reported', async () => {
    const { a, ctx, first, opFor } = await takeTwo('any');
    a.array.failNext({ op: 'delete', count: 1, message: 'array busy' });
    await expect(strategy.deleteVmSnapshot(ctx, opFor(first))).rejects.toThrow(
      /Delete of VM snapshot snap\d+ failed: storage driver array-a: array busy/,
    );
  });
});
