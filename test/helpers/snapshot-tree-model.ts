/**
 * The snapshot tree model shared by the model tests (the simulator's, test/manager/tree-model.test.ts,
 * and real QEMU's, test/qemu-e2e/tree-model-qemu.test.ts): random actions (create disk or memory,
 * revert, delete, start, stop, and writes of data), what the model expects of each (accepted, or
 * refused with CloudStack's words), and the model's tree and disk data after it.
 *
 * Data is a byte pattern per slot of each disk: a snapshot keeps a copy of the data it was taken
 * on, a revert brings that copy back; nothing else changes it but a write.
 */
import { assertNever } from '../../src/core/assert-never.ts';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { expect } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.ts';
import type { VmSnapshotType } from '../../src/core/plugin-api.ts';
import type { Caller } from '../../src/manager/caller.ts';
import type { VmManager } from '../../src/manager/vm-manager.ts';
import type { VmSnapshotManager } from '../../src/manager/vm-snapshot-manager.ts';

export type Action =
  | { readonly kind: 'create'; readonly vm: number; readonly memory: boolean }
  | { readonly kind: 'revert' | 'delete'; readonly vm: number; readonly pick: number }
  | { readonly kind: 'start' | 'stop'; readonly vm: number }
  | {
      readonly kind: 'write';
      readonly vm: number;
      readonly disk: number;
      readonly slot: number;
      readonly pattern: number;
    };

/** Data of a VM: `data[disk][slot]` is the byte every byte of that slot holds. */
export type Data = number[][];

export interface ModelSnap {
  parent: string | null;
  readonly type: VmSnapshotType;
  readonly data: Data;
}

export interface VmModel {
  readonly id: string;
  running: boolean;
  readonly snaps: Map<string, ModelSnap>;
  current: string | null;
  data: Data;
}

/** Slots per disk (`[]`: no data, no writes). */
export function newVmModel(id: string, running: boolean, slotsPerDisk: readonly number[] = []): VmModel {
  return {
    id,
    running,
    snaps: new Map(),
    current: null,
    data: slotsPerDisk.map((n) => Array<number>(n).fill(0)),
  };
}

/** How often each kind of action comes up, relative to the others. */
export type ActionWeights = Readonly<Record<Action['kind'], number>>;

/** The simulator model's mix (no data: no writes). */
export const DEFAULT_WEIGHTS: ActionWeights = {
  create: 4,
  revert: 2,
  delete: 2,
  start: 1,
  stop: 1,
  write: 3,
};

/**
 * Random actions on `vms` VMs; with `slotsPerDisk`, writes too (pattern 1–255: 0 is "never
 * written").
 */
export function actionArb(
  vms: number,
  slotsPerDisk: readonly number[] = [],
  weights: ActionWeights = DEFAULT_WEIGHTS,
): fc.Arbitrary<Action> {
  const vm = fc.integer({ min: 0, max: vms - 1 });
  const kinds: fc.WeightedArbitrary<Action>[] = [
    {
      weight: weights.create,
      arbitrary: fc.record({ kind: fc.constant('create' as const), vm, memory: fc.boolean() }),
    },
    {
      weight: weights.revert,
      arbitrary: fc.record({ kind: fc.constant('revert' as const), vm, pick: fc.nat(20) }),
    },
    {
      weight: weights.delete,
      arbitrary: fc.record({ kind: fc.constant('delete' as const), vm, pick: fc.nat(20) }),
    },
    { weight: weights.start, arbitrary: fc.record({ kind: fc.constant('start' as const), vm }) },
    { weight: weights.stop, arbitrary: fc.record({ kind: fc.constant('stop' as const), vm }) },
  ];
  if (slotsPerDisk.length > 0) {
    const write = fc.integer({ min: 0, max: slotsPerDisk.length - 1 }).chain((disk) =>
      fc.record({
        kind: fc.constant('write' as const),
        vm,
        disk: fc.constant(disk),
        slot: fc.integer({ min: 0, max: slotsPerDisk[disk]! - 1 }),
        pattern: fc.integer({ min: 1, max: 255 }),
      }),
    );
    kinds.push({ weight: weights.write, arbitrary: write });
  }
  return fc.oneof(...kinds);
}

/** What the system under test does for each action (a write only where the model holds data). */
export interface ModelDriver {
  readonly snapshots: VmSnapshotManager;
  readonly vms: VmManager;
  readonly caller: Caller;
  /** Waits for the job; fails the test (naming `where`) unless it succeeded. */
  succeeded(jobId: string, where: string): Promise<void>;
  write?(m: VmModel, disk: number, slot: number, pattern: number): Promise<void>;
}

/** What the model expects of a request: refused with a message, or accepted. */
type Expectation = { readonly refused: string | RegExp } | { readonly accepted: true };

const C6 = /^Reverting to the Instance Snapshot is not allowed for running Instances/;
const C7 = /^Reverting to the Instance Snapshot is not allowed for stopped Instances/;

/** Runs `action` against the system and applies it to the model, checking accept/refuse. */
export async function applyAction(d: ModelDriver, m: VmModel, action: Action, where: string): Promise<void> {
  const ids = [...m.snaps.keys()];
  const target =
    action.kind === 'revert' || action.kind === 'delete'
      ? ids[action.pick % Math.max(1, ids.length)]
      : undefined;
  switch (action.kind) {
    case 'create':
      return create(d, m, action.memory, where);
    case 'revert':
    case 'delete': {
      if (target === undefined) {
        const missing = randomUUID();
        const call =
          action.kind === 'revert'
            ? d.snapshots.revert(d.caller, missing)
            : d.snapshots.delete(d.caller, missing);
        await expectRefused(call, `Unable to find the Instance Snapshot with id ${missing}`, where);
        return;
      }
      return action.kind === 'revert' ? revert(d, m, target, where) : remove(d, m, target, where);
    }
    case 'start':
    case 'stop': {
      const submitted =
        action.kind === 'start' ? await d.vms.start(d.caller, m.id) : await d.vms.stop(d.caller, m.id);
      await d.succeeded(submitted.jobId, where);
      m.running = action.kind === 'start';
      return;
    }
    case 'write':
      if (d.write === undefined) throw new Error(`${where}: this driver holds no data`);
      await d.write(m, action.disk, action.slot, action.pattern);
      m.data[action.disk]![action.slot] = action.pattern;
      return;
    default:
      return assertNever(action, 'unexpected action');
  }
}

async function create(d: ModelDriver, m: VmModel, memory: boolean, where: string): Promise<void> {
  if (memory && !m.running) {
    await expectRefused(
      d.snapshots.create(d.caller, { vmId: m.id, snapshotMemory: true }),
      'Can not Snapshot memory when the Instance is not in Running state',
      where,
    );
    return;
  }
  const { snapshot, jobId } = await d.snapshots.create(d.caller, { vmId: m.id, snapshotMemory: memory });
  await d.succeeded(jobId, where);
  m.snaps.set(snapshot.id, {
    parent: m.current,
    type: memory ? 'DiskAndMemory' : 'Disk',
    data: m.data.map((disk) => [...disk]),
  });
  m.current = snapshot.id;
}

async function revert(d: ModelDriver, m: VmModel, target: string, where: string): Promise<void> {
  const snap = m.snaps.get(target)!;
  const expectation: Expectation =
    m.running && snap.type === 'Disk'
      ? { refused: C6 }
      : !m.running && snap.type === 'DiskAndMemory'
        ? { refused: C7 }
        : { accepted: true };
  if ('refused' in expectation) {
    await expectRefused(d.snapshots.revert(d.caller, target), expectation.refused, where);
    return;
  }
  await d.succeeded((await d.snapshots.revert(d.caller, target)).jobId, where);
  m.current = target;
  m.running = snap.type === 'DiskAndMemory';
  m.data = snap.data.map((disk) => [...disk]);
}

/** As CloudStack: children move up to the deleted snapshot's parent, which becomes current if it was. */
async function remove(d: ModelDriver, m: VmModel, target: string, where: string): Promise<void> {
  await d.succeeded((await d.snapshots.delete(d.caller, target)).jobId, where);
  const gone = m.snaps.get(target)!;
  for (const s of m.snaps.values()) if (s.parent === target) s.parent = gone.parent;
  if (m.current === target) m.current = gone.parent;
  m.snaps.delete(target);
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
