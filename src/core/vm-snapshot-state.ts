/**
 * CloudStack's VM snapshot state machine (VMSnapshot.State / StateMachine2), Hidden included.
 * Any transition not listed is refused, as NoTransitionException is in CloudStack.
 */
import type { VmSnapshotState } from './plugin-api.ts';

export type VmSnapshotEvent =
  | 'CreateRequested'
  | 'OperationSucceeded'
  | 'OperationFailed'
  | 'RevertRequested'
  | 'ExpungeRequested'
  | 'Hide';

export const VM_SNAPSHOT_STATES: readonly VmSnapshotState[] = [
  'Allocated',
  'Creating',
  'Ready',
  'Reverting',
  'Expunging',
  'Removed',
  'Error',
  'Hidden',
];

export const VM_SNAPSHOT_EVENTS: readonly VmSnapshotEvent[] = [
  'CreateRequested',
  'OperationSucceeded',
  'OperationFailed',
  'RevertRequested',
  'ExpungeRequested',
  'Hide',
];

const TRANSITIONS: Readonly<Record<VmSnapshotState, Partial<Record<VmSnapshotEvent, VmSnapshotState>>>> = {
  Allocated: { CreateRequested: 'Creating' },
  Creating: { OperationSucceeded: 'Ready', OperationFailed: 'Error' },
  Ready: { RevertRequested: 'Reverting', ExpungeRequested: 'Expunging' },
  // A failed revert leaves the snapshot usable: back to Ready, not Error.
  Reverting: { OperationSucceeded: 'Ready', OperationFailed: 'Ready' },
  Expunging: {
    ExpungeRequested: 'Expunging',
    OperationSucceeded: 'Removed',
    OperationFailed: 'Error',
    Hide: 'Hidden',
  },
  Error: { ExpungeRequested: 'Expunging' },
  Hidden: { ExpungeRequested: 'Expunging' },
  Removed: {},
};

export class NoTransitionError extends Error {
  constructor(
    readonly from: VmSnapshotState,
    readonly event: VmSnapshotEvent,
  ) {
    super(`Unable to transition to a new state from ${from} via ${event}`);
    this.name = 'NoTransitionError';
  }
}

/** The next state, or undefined when the event is not allowed in `from`. */
export function nextState(from: VmSnapshotState, event: VmSnapshotEvent): VmSnapshotState | undefined {
  return TRANSITIONS[from][event];
}

export function transition(from: VmSnapshotState, event: VmSnapshotEvent): VmSnapshotState {
  const to = nextState(from, event);
  if (to === undefined) throw new NoTransitionError(from, event);
  return to;
}

/** States in which work is under way; CloudStack's hasActiveVMSnapshotTasks adds Allocated. */
export const TRANSITIONAL_STATES: readonly VmSnapshotState[] = ['Creating', 'Reverting', 'Expunging'];

/** States listVMSnapshot shows when no state filter is given. */
export const LISTED_BY_DEFAULT: readonly VmSnapshotState[] = [
  'Ready',
  'Creating',
  'Allocated',
  'Error',
  'Expunging',
  'Reverting',
];

/**
 * States deleteVMSnapshot accepts, checked by the API call and again by its job. CloudStack's API
 * check refuses Allocated (issue 8424: such a row would be stuck) and knows no Hidden; both may be
 * deleted here.
 */
export const DELETABLE_STATES: readonly VmSnapshotState[] = [
  'Ready',
  'Expunging',
  'Error',
  'Allocated',
  'Hidden',
];
