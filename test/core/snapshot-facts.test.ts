/**
 * Snapshot facts: typed in code, a flat map in the database. One module writes and reads the map,
 * so every writer and the API renderer agree on the key names, and rows written before stay readable.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONSISTENCIES,
  MEMORY_SNAPSHOT_MODES,
  QUIESCE_POLICIES,
  THAW_OUTCOMES,
  type SnapshotFacts,
} from 'vmsnap/plugin-api';
import { factsFromDetails, factsToDetails, mergeFacts } from '../../src/core/snapshot-facts.ts';

/** Names as phases and drivers get them: no dots' worth of trouble, never empty. */
const name = fc.stringMatching(/^[a-z][a-z0-9.-]{0,11}$/);
const ms = fc.double({ min: 0, max: 1e7, noNaN: true });
const times = fc.dictionary(name, ms, { minKeys: 1, maxKeys: 4 });
const factsArb: fc.Arbitrary<SnapshotFacts> = fc.record(
  {
    consistency: fc.constantFrom(...CONSISTENCIES),
    pauseMs: ms,
    freezeWindowMs: ms,
    revertPauseMs: ms,
    totalMs: ms,
    memoryMode: fc.constantFrom(...MEMORY_SNAPSHOT_MODES),
    host: fc.string(),
    drivers: fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: 1, maxLength: 3 }),
    thaw: fc.constantFrom(...THAW_OUTCOMES),
    quiescePolicy: fc.constantFrom(...QUIESCE_POLICIES),
    quiesceNote: fc.string(),
    recovered: fc.boolean(),
    error: fc.string(),
    phaseMs: times,
    driverMs: times,
  },
  { requiredKeys: [] },
);

describe('snapshot facts <-> details', () => {
  it('round-trips every fact through the stored map (and through JSON, as the store keeps it)', () => {
    fc.assert(
      fc.property(factsArb, (facts) => {
        const stored = JSON.parse(JSON.stringify(factsToDetails(facts))) as ReturnType<typeof factsToDetails>;
        expect(factsFromDetails(stored)).toEqual(facts);
      }),
    );
  });

  it('writes the key names rows already use', () => {
    expect(
      factsToDetails({
        consistency: 'application-consistent',
        pauseMs: 1.5,
        totalMs: 20,
        drivers: ['array-a', 'array-b'],
        phaseMs: { quiesce: 3, snapshot: 7 },
        driverMs: { 'array-a': 4 },
      }),
    ).toEqual({
      consistency: 'application-consistent',
      pauseMs: 1.5,
      totalMs: 20,
      drivers: 'array-a,array-b',
      'phase.quiesce.ms': 3,
      'phase.snapshot.ms': 7,
      'driver.array-a.ms': 4,
    });
  });

  it('reads an older row, leaving out checkpoints and values of the wrong type', () => {
    const row = {
      checkpoint: 'snapshot-taken',
      refs: 'vol-1=snap-1',
      failed: 0,
      consistency: 'crash-consistent',
      freezeWindowMs: '12', // a string where a number belongs: not trusted
      memoryMode: 'sideways', // not a memory mode
      'phase.hypervisor.ms': 41.2,
      'phase..ms': 3,
      'driver.netapp.ms': 'slow',
      recovered: true,
    };
    expect(factsFromDetails(row)).toEqual({
      consistency: 'crash-consistent',
      recovered: true,
      phaseMs: { hypervisor: 41.2 },
    });
  });

  it('merges facts from several parties, later ones winning, timing maps merged per name', () => {
    expect(
      mergeFacts(
        { consistency: 'crash-consistent', phaseMs: { snapshot: 5 }, driverMs: { a: 1 } },
        undefined,
        { phaseMs: { quiesce: 2, snapshot: 6 } },
        { totalMs: 9, consistency: 'application-consistent' },
      ),
    ).toEqual({
      consistency: 'application-consistent',
      phaseMs: { snapshot: 6, quiesce: 2 },
      driverMs: { a: 1 },
      totalMs: 9,
    });
  });
});
