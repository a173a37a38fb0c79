/**
 * Recovery of a storage snapshot cut short by a crash between the array cut and the database write:
 * the pieces are found on the arrays by the snapshot's name, and finished or removed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { ArrayStorageDriver } from '../../examples/vendor-array-plugin/src/array-driver.ts';
import { SimulatedArray } from '../../examples/vendor-array-plugin/src/simulated-array.ts';
import { FakeGuestGateway, fakeContext, makeOp, makeSnapshot, makeVolumes } from './fake-strategy-context.ts';
import { PerVolumeDriver } from './per-volume-driver.ts';

const strategy = new StorageVmSnapshotStrategy();
const gateways: FakeGuestGateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.dispose();
});

function setup() {
  const a = new ArrayStorageDriver(new SimulatedArray({ stateFile: null }), { name: 'array-a' });
  const b = new ArrayStorageDriver(new SimulatedArray({ stateFile: null }), { name: 'array-b' });
  const gateway = new FakeGuestGateway({});
  gateways.push(gateway);
  const ctx = fakeContext({ gateway, drivers: [a, b] });
  const volumes = [...makeVolumes('array-a', 2), ...makeVolumes('array-b', 1)];
  const snapshot = makeSnapshot({ name: 'i-2-7-VM_VS_20261126010203', state: 'Creating', quiesce: false });
  const op = makeOp(volumes, { snapshot, quiesce: false });
  return { a, b, ctx, volumes, op };
}

describe('StorageVmSnapshotStrategy.reconcileTake', () => {
  it('finishes a snapshot whose every piece was cut before the crash', async () => {
    const { a, b, ctx, volumes, op } = setup();
    // The cut happened (the arrays hold it) but the crash lost the answer.
    await strategy.takeVmSnapshot(ctx, op);
    const result = await strategy.reconcileTake(ctx, op);
    expect(result).not.toBeNull();
    expect(result?.records.map((r) => r.volumeId).sort()).toEqual(volumes.map((v) => v.id).sort());
    for (const r of result?.records ?? []) {
      const driver = r.driver === 'array-a' ? a : b;
      const volume = volumes.find((v) => v.id === r.volumeId)!;
      expect(await driver.listVolumeSnapshots(volume)).toContain(r.ref);
    }
    expect(result?.facts?.consistency).toBe('crash-consistent');
  });

  it('removes the pieces of a cut that one array never took, and reports no snapshot', async () => {
    const { a, b, ctx, volumes, op } = setup();
    const onA = volumes.filter((v) => v.driver === 'array-a');
    await a.takeVmSnapshot(onA, { id: op.snapshot.id, name: op.snapshot.name, vmId: op.vm.id });
    expect((await a.listVolumeSnapshots(onA[0]!)).length).toBe(1);
    expect(await strategy.reconcileTake(ctx, op)).toBeNull();
    for (const v of onA) expect(await a.listVolumeSnapshots(v)).toEqual([]);
    expect(await b.listVolumeSnapshots(volumes.find((v) => v.driver === 'array-b')!)).toEqual([]);
  });

  it('cannot finish without the driver recovery method, and says so', async () => {
    const plain = new PerVolumeDriver('plain');
    const gateway = new FakeGuestGateway({});
    gateways.push(gateway);
    const ctx = fakeContext({ gateway, drivers: [plain] });
    const op = makeOp(makeVolumes('plain', 1), { quiesce: false });
    expect(await strategy.reconcileTake(ctx, op)).toBeNull();
    expect(ctx.warnings.join(' ')).toContain('cannot find pieces');
  });
});
