/**
 * The chaos workload: `operations` create/revert/delete requests on random VMs, `concurrency` at a
 * time, each to a random up server. A VM has at most one request of ours in flight (a second would
 * only be refused: "There are other active Instance Snapshot tasks"). An operation is *accepted*
 * when a server answered it with an async job id; its job is then polled (through any up server)
 * until it is final. A request whose fate is unknown (the server died while it was in flight) is not
 * accepted; its VM is retired from the workload, since a job of ours may or may not run on it (the
 * final checks still cover every job in the database).
 *
 * After every `killEvery` accepted operations, one server is SIGKILLed and started again (one at a
 * time: the next kill waits until every server is back). Progress drives the kills, not time.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ChaosCluster, Restart } from './chaos-cluster.ts';

export type OpKind = 'create' | 'revert' | 'delete';

export interface WorkloadOptions {
  readonly operations: number;
  readonly concurrency: number;
  readonly killEvery: number;
  /** A job not final after this long is reported (a bound, not a measurement). */
  readonly jobBoundMs: number;
}

export interface AcceptedOp {
  readonly kind: OpKind;
  readonly jobId: string;
  readonly vmId: string;
  /** The final job status: 1 succeeded, 2 failed; 0 if it never became final within the bound. */
  jobStatus: number;
}

/** What the workload counted while it ran. */
export interface Tally {
  sent: number;
  readonly accepted: AcceptedOp[];
  /** Answered without a job id, by CloudStack error code (431 parameter, 530 internal ...). */
  readonly refused: Record<string, number>;
  readonly refusedTexts: string[];
  unknown: number;
  retiredVms: number;
}

export interface WorkloadReport extends Tally {
  readonly restarts: readonly Restart[];
}

interface VmState {
  readonly id: string;
  running: boolean;
  busy: boolean;
  retired: boolean;
  /** Ready snapshots: id and type, as the last listVMSnapshot said. */
  snapshots: { id: string; type: string }[];
}

/** Snapshots a VM may hold (vmsnapshot.max is 10): at this many the next operation deletes one. */
const MAX_SNAPSHOTS_KEPT = 6;

export async function runWorkload(
  cluster: ChaosCluster,
  vms: readonly { id: string; running: boolean }[],
  options: WorkloadOptions,
): Promise<WorkloadReport> {
  const states: VmState[] = vms.map((v) => ({ ...v, busy: false, retired: false, snapshots: [] }));
  const report: WorkloadReport = {
    sent: 0,
    accepted: [],
    refused: {},
    refusedTexts: [],
    unknown: 0,
    retiredVms: 0,
    restarts: cluster.restarts,
  };
  let started = 0;
  let killer: Promise<Restart> | undefined;
  let acceptedAtLastKill = 0;

  const maybeKill = (): void => {
    if (killer !== undefined || !cluster.allUp) return;
    if (report.accepted.length - acceptedAtLastKill < options.killEvery) return;
    acceptedAtLastKill = report.accepted.length;
    const victim = cluster.slots[Math.floor(Math.random() * cluster.slots.length)]!;
    killer = cluster.killAndRestart(victim).finally(() => (killer = undefined));
  };

  const worker = async (): Promise<void> => {
    while (started < options.operations) {
      const vm = pickIdle(states);
      if (vm === undefined) {
        // Bounded: VMs are busy only while an operation of ours runs; all retired ends the run.
        if (states.every((s) => s.retired)) throw new Error('every VM was retired: no answer came back');
        await delay(10);
        continue;
      }
      started += 1;
      vm.busy = true;
      try {
        await oneOperation(cluster, vm, report, options);
      } finally {
        vm.busy = false;
      }
      maybeKill();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  if (killer !== undefined) await killer;
  return report;
}

function pickIdle(states: VmState[]): VmState | undefined {
  const idle = states.filter((s) => !s.busy && !s.retired);
  return idle[Math.floor(Math.random() * idle.length)];
}

async function oneOperation(
  cluster: ChaosCluster,
  vm: VmState,
  report: Tally,
  options: WorkloadOptions,
): Promise<void> {
  // A running VM can only be reverted to a snapshot with memory, a stopped one to a disk-only one.
  const revertable = vm.snapshots.filter((s) => (s.type === 'DiskAndMemory') === vm.running);
  const kind = chooseOp(vm.snapshots.length, revertable.length);
  const target = kind === 'revert' ? pick(revertable) : kind === 'delete' ? pick(vm.snapshots) : undefined;
  const [command, params]: [string, Record<string, string | boolean>] =
    kind === 'create'
      ? ['createVMSnapshot', { virtualmachineid: vm.id, snapshotmemory: vm.running }]
      : kind === 'revert'
        ? ['revertToVMSnapshot', { vmsnapshotid: target!.id }]
        : ['deleteVMSnapshot', { vmsnapshotid: target!.id }];
  report.sent += 1;
  const outcome = await cluster.call(command, params, { write: true });
  if (outcome.kind === 'unknown') {
    report.unknown += 1;
    report.retiredVms += 1;
    vm.retired = true;
    return;
  }
  const jobId = outcome.body['jobid'];
  if (outcome.status !== 200 || typeof jobId !== 'string') {
    const code = asText(outcome.body['errorcode'] ?? outcome.status);
    report.refused[code] = (report.refused[code] ?? 0) + 1;
    if (report.refusedTexts.length < 20)
      report.refusedTexts.push(`${command}: ${asText(outcome.body['errortext'] ?? outcome.body)}`);
  } else {
    const op: AcceptedOp = { kind, jobId, vmId: vm.id, jobStatus: 0 };
    report.accepted.push(op);
    op.jobStatus = await waitForJob(cluster, jobId, options.jobBoundMs);
    // What a success did is known; anything else is read back from the servers.
    if (op.jobStatus === 1 && applySuccess(vm, kind, target, outcome.body)) return;
  }
  await refreshSnapshots(cluster, vm);
}

/** The VM's Ready snapshots after a succeeded operation; false when the answer does not say enough. */
function applySuccess(
  vm: VmState,
  kind: OpKind,
  target: { id: string } | undefined,
  answer: Record<string, unknown>,
): boolean {
  if (kind === 'revert') return true;
  if (kind === 'delete') {
    vm.snapshots = vm.snapshots.filter((s) => s.id !== target?.id);
    return true;
  }
  const id = answer['id'];
  if (typeof id !== 'string') return false;
  vm.snapshots.push({ id, type: vm.running ? 'DiskAndMemory' : 'Disk' });
  return true;
}

function chooseOp(snapshots: number, revertable: number): OpKind {
  if (snapshots === 0) return 'create';
  if (snapshots >= MAX_SNAPSHOTS_KEPT) return 'delete';
  const r = Math.random();
  if (r < 0.45) return 'create';
  if (r < 0.7 && revertable > 0) return 'revert';
  return 'delete';
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function pick<T>(items: readonly T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}

/**
 * Polls queryAsyncJobResult through any up server: the job's final status, or 0 after the bound.
 * The pause grows (50 ms to 500 ms): polls are most of the servers' load otherwise.
 */
async function waitForJob(cluster: ChaosCluster, jobId: string, boundMs: number): Promise<number> {
  const deadline = Date.now() + boundMs;
  let pause = 50;
  while (Date.now() < deadline) {
    await delay(pause);
    pause = Math.min(500, Math.round(pause * 1.5));
    const answer = await cluster.call('queryAsyncJobResult', { jobid: jobId }, { write: false });
    const status = answer.kind === 'answer' ? Number(answer.body['jobstatus'] ?? 0) : 0;
    if (status !== 0) return status;
  }
  return 0;
}

async function refreshSnapshots(cluster: ChaosCluster, vm: VmState): Promise<void> {
  const answer = await cluster.call(
    'listVMSnapshot',
    { virtualmachineid: vm.id, listall: true },
    { write: false },
  );
  if (answer.kind !== 'answer' || answer.status !== 200) return;
  const listed = (answer.body['vmSnapshot'] ?? []) as { id: string; state: string; type: string }[];
  vm.snapshots = listed.filter((s) => s.state === 'Ready').map((s) => ({ id: s.id, type: s.type }));
}
