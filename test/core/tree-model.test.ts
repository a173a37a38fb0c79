/**
 * Model test (fast-check): random create (memory or disk) / revert / delete / start / stop sequences on
 * the simulator. A small model predicts each outcome (accepted, or refused with CloudStack's error) and
 * the resulting tree; after every step the database must equal the model, keep the tree invariants
 * (at most one current, parents exist, no cycles) and agree with the simulator's own view.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.ts';
import type { VmSnapshotType } from '../../src/core/plugin-api.ts';
import { dbSimulatorProblems, treeProblems, waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const VMS = ['web-1', 'db-1', 'app-1'] as const;

type Action =
  | { readonly kind: 'create'; readonly vm: number; readonly memory: boolean }
  | { readonly kind: 'revert' | 'delete'; readonly vm: number; readonly pick: number }
  | { readonly kind: 'start' | 'stop'; readonly vm: number };

const vmIndex = fc.integer({ min: 0, max: VMS.length - 1 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('create' as const), vm: vmIndex, memory: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('revert' as const), vm: vmIndex, pick: fc.nat(20) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), vm: vmIndex, pick: fc.nat(20) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('start' as const), vm: vmIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stop' as const), vm: vmIndex }) },
);

interface ModelSnap {
  parent: string | null;
  readonly type: VmSnapshotType;
}

interface VmModel {
  readonly id: string;
  running: boolean;
  readonly snaps: Map<string, ModelSnap>;
  current: string | null;
}

/** What the model expects of a request: refused with a message, or accepted. */
type Expectation = { readonly refused: string | RegExp } | { readonly accepted: true };

const C6 = /^Reverting to the Instance Snapshot is not allowed for running Instances/;
const C7 = /^Reverting to the Instance Snapshot is not allowed for stopped Instances/;

async function runSequence(t: TestApp, actions: readonly Action[]): Promise<void> {
  const models: VmModel[] = [];
  for (const name of VMS) {
    const vm = await t.vm(name);
    models.push({ id: vm.id, running: vm.state === 'Running', snaps: new Map(), current: null });
  }
  for (const [step, action] of actions.entries()) {
    const model = models[action.vm]!;
    const where = `step ${step} ${JSON.stringify(action)}`;
    await apply(t, model, action, where);
    await checkAgainstModel(t, model, where);
  }
}

async function apply(t: TestApp, m: VmModel, action: Action, where: string): Promise<void> {
  const mgr = t.app.snapshotManager;
  const ids = [...m.snaps.keys()];
  const target =
    action.kind === 'revert' || action.kind === 'delete'
      ? ids[action.pick % Math.max(1, ids.length)]
      : undefined;
  switch (action.kind) {
    case 'create': {
      if (action.memory && !m.running) {
        await expectRefused(
          mgr.create(t.demo, { vmId: m.id, snapshotMemory: true }),
          'Can not Snapshot memory when the Instance is not in Running state',
          where,
        );
        return;
      }
      const { snapshot, jobId } = await mgr.create(t.demo, { vmId: m.id, snapshotMemory: action.memory });
      await expectSucceeded(t, jobId, where);
      m.snaps.set(snapshot.id, { parent: m.current, type: action.memory ? 'DiskAndMemory' : 'Disk' });
      m.current = snapshot.id;
      return;
    }
    case 'revert': {
      if (target === undefined) {
        const missing = randomUUID();
        await expectRefused(
          mgr.revert(t.demo, missing),
          `Unable to find the Instance Snapshot with id ${missing}`,
          where,
        );
        return;
      }
      const snap = m.snaps.get(target)!;
      const expectation: Expectation =
        m.running && snap.type === 'Disk'
          ? { refused: C6 }
          : !m.running && snap.type === 'DiskAndMemory'
            ? { refused: C7 }
            : { accepted: true };
      if ('refused' in expectation) {
        await expectRefused(mgr.revert(t.demo, target), expectation.refused, where);
        return;
      }
      await expectSucceeded(t, (await mgr.revert(t.demo, target)).jobId, where);
      m.current = target;
      m.running = snap.type === 'DiskAndMemory';
      return;
    }
    case 'delete': {
      if (target === undefined) {
        const missing = randomUUID();
        await expectRefused(
          mgr.delete(t.demo, missing),
          `Unable to find the Instance Snapshot with id ${missing}`,
          where,
        );
        return;
      }
      await expectSucceeded(t, (await mgr.delete(t.demo, target)).jobId, where);
      const gone = m.snaps.get(target)!;
      for (const s of m.snaps.values()) if (s.parent === target) s.parent = gone.parent;
      if (m.current === target) m.current = gone.parent;
      m.snaps.delete(target);
      return;
    }
    case 'start':
    case 'stop': {
      const submitted =
        action.kind === 'start'
          ? await t.app.vmManager.start(t.demo, m.id)
          : await t.app.vmManager.stop(t.demo, m.id);
      await expectSucceeded(t, submitted.jobId, where);
      m.running = action.kind === 'start';
      return;
    }
    default:
      return assertNever(action);
  }
}

async function expectRefused(p: Promise<unknown>, message: string | RegExp, where: string): Promise<void> {
  const outcome = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, `${where}: should be refused`).toBeInstanceOf(InvalidParameterError);
  const text = (outcome as Error).message;
  if (typeof message === 'string') expect(text, where).toBe(message);
  else expect(text, where).toMatch(message);
}

async function expectSucceeded(t: TestApp, jobId: string, where: string): Promise<void> {
  const job = await waitJob(t.app, jobId);
  expect(job.status, `${where}: ${job.result ?? ''}`).toBe('succeeded');
}

async function checkAgainstModel(t: TestApp, m: VmModel, where: string): Promise<void> {
  const snaps = await t.app.deps.snapshots.listByVm(m.id);
  expect(snaps.map((s) => s.id).sort(), `${where}: snapshot set`).toEqual([...m.snaps.keys()].sort());
  for (const s of snaps) {
    expect(s.state, `${where}: ${s.name} state`).toBe('Ready');
    expect(s.parentId, `${where}: ${s.name} parent`).toBe(m.snaps.get(s.id)?.parent);
  }
  const current = snaps.filter((s) => s.current);
  // Exactly one current while the model has one; none only after the current root was deleted (or no snapshots).
  expect(
    current.map((s) => s.id),
    `${where}: current`,
  ).toEqual(m.current === null ? [] : [m.current]);
  if (m.current === null && m.snaps.size > 0) {
    expect(
      [...m.snaps.values()].some((s) => s.parent === null),
      `${where}: a current-less tree has roots`,
    ).toBe(true);
  }
  expect(treeProblems(snaps), where).toEqual([]);
  expect(await dbSimulatorProblems(t.app, m.id), where).toEqual([]);
  const vm = await t.app.deps.inventory.getVm(m.id);
  expect(vm?.state, `${where}: power`).toBe(m.running ? 'Running' : 'Stopped');
}

function assertNever(value: never): never {
  throw new Error(`unexpected action ${JSON.stringify(value)}`);
}

describe('snapshot tree model test (fast-check)', () => {
  it('random create/revert/delete/start/stop sequences keep the tree true and the simulator in agreement', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 25 }), async (actions) => {
        const t = await openTestApp();
        try {
          await t.app.deps.settings.set('vmsnapshot.max', '1000');
          await runSequence(t, actions);
        } finally {
          await t.close();
        }
      }),
      { numRuns: 50, endOnFailure: true },
    );
  }, 60_000);
});
