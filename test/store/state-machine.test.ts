import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSnapshotState } from '../../src/core/plugin-api.ts';
import {
  NoTransitionError,
  VM_SNAPSHOT_EVENTS,
  VM_SNAPSHOT_STATES,
  nextState,
  transition,
  type VmSnapshotEvent,
} from '../../src/core/vm-snapshot-state.ts';
import { ConcurrentUpdateError, type StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

/** CloudStack's table (reference §3), written out here independently of the implementation's. */
const ALLOWED: ReadonlyArray<readonly [VmSnapshotState, VmSnapshotEvent, VmSnapshotState]> = [
  ['Allocated', 'CreateRequested', 'Creating'],
  ['Creating', 'OperationSucceeded', 'Ready'],
  ['Creating', 'OperationFailed', 'Error'],
  ['Ready', 'RevertRequested', 'Reverting'],
  ['Reverting', 'OperationSucceeded', 'Ready'],
  ['Reverting', 'OperationFailed', 'Ready'],
  ['Ready', 'ExpungeRequested', 'Expunging'],
  ['Error', 'ExpungeRequested', 'Expunging'],
  ['Expunging', 'ExpungeRequested', 'Expunging'],
  ['Expunging', 'OperationSucceeded', 'Removed'],
  ['Expunging', 'OperationFailed', 'Error'],
  ['Expunging', 'Hide', 'Hidden'],
  ['Hidden', 'ExpungeRequested', 'Expunging'],
];

const allowedKey = new Set(ALLOWED.map(([from, event]) => `${from}/${event}`));
const FORBIDDEN = VM_SNAPSHOT_STATES.flatMap((from) =>
  VM_SNAPSHOT_EVENTS.filter((event) => !allowedKey.has(`${from}/${event}`)).map(
    (event) => [from, event] as const,
  ),
);

describe('VM snapshot state machine (CloudStack VMSnapshot.State)', () => {
  it('knows all eight states (Hidden included) and six events', () => {
    expect([...VM_SNAPSHOT_STATES].sort()).toEqual(
      ['Allocated', 'Creating', 'Error', 'Expunging', 'Hidden', 'Ready', 'Removed', 'Reverting'].sort(),
    );
    expect(VM_SNAPSHOT_EVENTS).toHaveLength(6);
    // 8 states x 6 events = 48 pairs: 13 allowed, 35 refused.
    expect(FORBIDDEN).toHaveLength(48 - ALLOWED.length);
  });

  it.each(ALLOWED)('%s --%s--> %s', (from, event, to) => {
    expect(transition(from, event)).toBe(to);
    expect(nextState(from, event)).toBe(to);
  });

  it.each(FORBIDDEN)('%s refuses %s with NoTransitionError', (from, event) => {
    expect(nextState(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      transition(from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(NoTransitionError);
    expect(thrown).toMatchObject({ from, event });
  });
});

describe('VmSnapshotStore.fire: persisted transitions with optimistic concurrency', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  async function allocated(): Promise<StoredVmSnapshot> {
    const vm = await t.vm('app-1');
    return t.app.deps.snapshots.insert({
      id: randomUUID(),
      vmId: vm.id,
      accountId: vm.accountId,
      name: `sm-${randomUUID()}`,
      displayName: `sm-${randomUUID()}`,
      description: '',
      type: 'Disk',
      strategy: 'hypervisor',
      quiesce: false,
      options: {},
      created: Date.now(),
    });
  }

  it('persists each transition and bumps update_count', async () => {
    const s0 = await allocated();
    const s1 = await t.app.deps.snapshots.fire(s0, 'CreateRequested');
    const s2 = await t.app.deps.snapshots.fire(s1, 'OperationSucceeded');
    const stored = await t.app.deps.snapshots.get(s0.id);
    expect(stored?.state).toBe('Ready');
    expect(stored?.updateCount).toBe(s0.updateCount + 2);
    expect(s2.state).toBe('Ready');
  });

  it('refuses a forbidden event without touching the row', async () => {
    const s0 = await allocated();
    await expect(t.app.deps.snapshots.fire(s0, 'RevertRequested')).rejects.toBeInstanceOf(NoTransitionError);
    const stored = await t.app.deps.snapshots.get(s0.id);
    expect(stored?.state).toBe('Allocated');
    expect(stored?.updateCount).toBe(s0.updateCount);
  });

  it('two fires from the same read: the second loses with ConcurrentUpdateError', async () => {
    const read = await allocated();
    const winner = await t.app.deps.snapshots.fire(read, 'CreateRequested');
    expect(winner.state).toBe('Creating');
    await expect(t.app.deps.snapshots.fire(read, 'CreateRequested')).rejects.toBeInstanceOf(
      ConcurrentUpdateError,
    );
    // Same state, stale update_count: still refused (the counter, not only the state, is checked).
    const fromCreating = await t.app.deps.snapshots.fire(winner, 'OperationSucceeded');
    const reverting = await t.app.deps.snapshots.fire(fromCreating, 'RevertRequested');
    const backToReady = await t.app.deps.snapshots.fire(reverting, 'OperationFailed');
    expect(backToReady.state).toBe('Ready');
    await expect(t.app.deps.snapshots.fire(fromCreating, 'ExpungeRequested')).rejects.toBeInstanceOf(
      ConcurrentUpdateError,
    );
    const stored = await t.app.deps.snapshots.get(read.id);
    expect(stored?.state).toBe('Ready');
    expect(stored?.updateCount).toBe(backToReady.updateCount);
  });

  it('racing fires issued together: exactly one wins', async () => {
    const read = await allocated();
    const results = await Promise.allSettled([
      t.app.deps.snapshots.fire(read, 'CreateRequested'),
      t.app.deps.snapshots.fire(read, 'CreateRequested'),
      t.app.deps.snapshots.fire(read, 'CreateRequested'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r) => r.status === 'rejected');
    expect(losers).toHaveLength(2);
    for (const l of losers) expect(l.reason).toBeInstanceOf(ConcurrentUpdateError);
  });
});
