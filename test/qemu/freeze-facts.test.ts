/**
 * Issue 15, item 3, "never hide a freeze": a QEMU host's longest freeze and frozen total (every
 * freeze of the take counted) reach the snapshot's facts, survive the stored details map, and show
 * in the API response next to the window around the cut (`maxfreezems`, `frozentotalms`).
 */
import { describe, expect, it } from 'vitest';
import type { AgentCommand, AgentGateway, AnswerFor, CommandOf } from 'vmsnap/plugin-api';
import { renderVmSnapshot } from '../../src/api/render/vm-snapshot-response.ts';
import type { Lookups } from '../../src/api/render/lookups.ts';
import { factsFromDetails, factsToDetails } from '../../src/core/snapshot-facts.ts';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { HypervisorVmSnapshotStrategy } from '../../src/strategies/hypervisor-strategy.ts';
import { fakeContext, makeOp, makeSnapshot, makeVolumes } from '../storage/fake-strategy-context.ts';

/** A QEMU host whose quiesced take froze twice: a 61 ms flush freeze, then a 9 ms window. */
class TwoFreezeHost implements AgentGateway {
  async send<C extends AgentCommand>(_hostId: string, command: C): Promise<AnswerFor<C>> {
    if (command.kind !== 'CreateVMSnapshot') throw new Error(`unexpected ${command.kind}`);
    const answer: AnswerFor<CommandOf<'CreateVMSnapshot'>> = {
      result: true,
      volumes: command.volumes.map((v) => ({ id: v.id, path: `${v.path}.s1`, size: v.size })),
      timings: { pauseMs: 0, freezeMs: 9.004, maxFreezeMs: 61.004, frozenTotalMs: 70.008 },
    };
    return answer;
  }
}

const lookups: Lookups = {
  accountName: () => 'admin',
  userName: () => 'admin',
  zoneName: () => 'zone1',
  hostName: () => 'kvm1',
  poolName: () => 'pool1',
  tagsOf: () => [],
};

describe('freeze facts of a quiesced take', () => {
  it('the longest freeze and the total are facts, stored, and shown by the API', async () => {
    const ctx = fakeContext({
      gateway: new TwoFreezeHost(),
      drivers: [],
      settings: { 'vmsnapshot.memory.mode': 'host', 'vmsnapshot.create.wait': '60' },
    });
    const op = makeOp(makeVolumes('local', 2), {
      quiesce: true,
      snapshot: makeSnapshot({ type: 'Disk', quiesce: true }),
    });
    const result = await new HypervisorVmSnapshotStrategy().takeVmSnapshot(ctx, op);
    expect(result.facts).toMatchObject({ freezeWindowMs: 9, maxFreezeMs: 61, frozenTotalMs: 70.01 });

    const details = factsToDetails(result.facts!);
    expect(factsFromDetails(details)).toMatchObject({ maxFreezeMs: 61, frozenTotalMs: 70.01 });

    const stored = {
      ...makeSnapshot({ type: 'Disk', quiesce: true }),
      details,
    } as unknown as StoredVmSnapshot;
    const shown = renderVmSnapshot(stored, undefined, undefined, lookups);
    expect(shown).toMatchObject({ freezewindowms: 9, maxfreezems: 61, frozentotalms: 70.01 });
  });
});
