/**
 * `maxSnapshotsPerVolume` is used, not just declared: the storage strategy refuses a take that
 * would go past a driver's limit before it freezes the guest or cuts anything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { FakeGuestGateway, fakeContext, makeOp, makeVolumes } from './fake-strategy-context.ts';
import { PerVolumeDriver } from './per-volume-driver.ts';

const strategy = new StorageVmSnapshotStrategy();
const gateways: FakeGuestGateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.dispose();
});

function setUp(maxSnapshotsPerVolume: number | null) {
  const limited = new PerVolumeDriver('limited', 0, { maxSnapshotsPerVolume });
  const other = new PerVolumeDriver('other');
  const gateway = new FakeGuestGateway();
  gateways.push(gateway);
  const ctx = fakeContext({ gateway, drivers: [limited, other] });
  const volumes = [...makeVolumes('limited', 2), ...makeVolumes('other', 1)];
  return { limited, other, gateway, ctx, volumes };
}

describe("a driver's snapshot limit", () => {
  it('refuses the take that would pass it before any freeze or cut, naming the full volumes', async () => {
    const { limited, other, gateway, ctx, volumes } = setUp(2);
    await strategy.takeVmSnapshot(ctx, makeOp(volumes));
    await strategy.takeVmSnapshot(ctx, makeOp(volumes));
    const sentBefore = gateway.sent.length;
    const takesBefore =
      limited.callsOf('takeVolumeSnapshot').length + other.callsOf('takeVolumeSnapshot').length;

    const op = makeOp(volumes);
    await expect(strategy.takeVmSnapshot(ctx, op)).rejects.toThrow(
      `VM snapshot ${op.snapshot.displayName} of VM ${op.vm.displayName} refused: ` +
        'volume limited-disk-0 already has 2 of the 2 snapshots storage driver limited keeps; ' +
        'volume limited-disk-1 already has 2 of the 2 snapshots storage driver limited keeps; ' +
        'delete older snapshots first',
    );
    expect(gateway.sent.length).toBe(sentBefore); // no ping, no freeze
    expect(limited.callsOf('takeVolumeSnapshot').length + other.callsOf('takeVolumeSnapshot').length).toBe(
      takesBefore,
    );
    expect(gateway.frozen).toBe(false);
  });

  it('takes freely without a limit', async () => {
    const { limited, ctx, volumes } = setUp(null);
    let listed = 0;
    const list = limited.listVolumeSnapshots.bind(limited);
    limited.listVolumeSnapshots = (volume) => {
      listed += 1;
      return list(volume);
    };
    for (let i = 0; i < 4; i++) await strategy.takeVmSnapshot(ctx, makeOp(volumes));
    expect(limited.refsOf('limited-vol-0')).toHaveLength(4);
    expect(listed).toBe(0); // no limit: no array round trips to count snapshots
  });
});
