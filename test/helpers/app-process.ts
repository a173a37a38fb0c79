/**
 * A management server in a child process, for the restart tests: opens the App on a data dir (SQLite
 * file and simulator world file persist there), seeds it if empty, applies simulator faults, submits a
 * workload and reports progress on stdout. The test SIGKILLs it mid-operation.
 *
 *   node --import tsx test/helpers/app-process.ts <dataDir> '<workload JSON>'
 *
 * stdout lines: `OPEN`, `SUBMITTED <index> <jobId> <snapshotId|->`, `REFUSED <index> <message>`,
 * `HELD <command kind> <vm name>` (an agent answered but the answer is being held back: the host has done
 * the work and the database does not know yet), `HELD insert <snapshot id>` (a create wrote its
 * snapshot row and goes no further), `DONE <jobId> <status>`.
 */
import { assertNever } from '../../src/core/assert-never.ts';
import type { AgentCommand, AnswerFor } from '../../src/core/plugin-api.ts';
import type { ConfigureSimulatorInput } from '../../src/hypervisors/simulator/index.ts';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { isSeeded, seed } from '../../src/app/seed.ts';
import { quietLog } from './test-app.ts';

export type WorkloadStep =
  | { readonly op: 'create'; readonly vm: string; readonly name: string; readonly memory?: boolean }
  | { readonly op: 'revert' | 'delete'; readonly vm: string; readonly name: string }
  | { readonly op: 'start' | 'stop'; readonly vm: string };

export interface Workload {
  readonly faults?: readonly ConfigureSimulatorInput[];
  /** After the agent answers this command for this VM, never hand the answer back (a crash window). */
  readonly holdAfterAgent?: readonly { readonly kind: AgentCommand['kind']; readonly vmName: string }[];
  /** After a create has written its snapshot row, and before its job row, never go on (a crash window). */
  readonly holdAfterSnapshotInsert?: boolean;
  readonly steps: readonly WorkloadStep[];
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const [dir, workloadJson] = process.argv.slice(2);
  if (dir === undefined || workloadJson === undefined)
    throw new Error('usage: app-process.ts <dataDir> <workload JSON>');
  const workload = JSON.parse(workloadJson) as Workload;
  const app = await App.open({
    config: loadConfig(dir, { plugins: [] }),
    log: quietLog,
    simulator: {},
  });
  if (!(await isSeeded(app))) await seed(app);
  for (const fault of workload.faults ?? []) app.simulator.configure(fault);
  holdAnswers(app, workload.holdAfterAgent ?? []);
  if (workload.holdAfterSnapshotInsert === true) holdAfterInsert(app);
  await app.start();
  say('OPEN');
  const system = await app.systemCaller();
  if (system === undefined) throw new Error('no admin user');
  const vms = await app.deps.inventory.listVms();
  const vmId = (name: string): string => {
    const vm = vms.find((v) => v.displayName === name);
    if (vm === undefined) throw new Error(`no VM ${name}`);
    return vm.id;
  };
  const snapshotId = async (vm: string, name: string): Promise<string> => {
    const snap = (await app.deps.snapshots.listByVm(vmId(vm))).find((s) => s.displayName === name);
    if (snap === undefined) throw new Error(`no snapshot ${name} on ${vm}`);
    return snap.id;
  };
  const jobs: string[] = [];
  for (const [i, step] of workload.steps.entries()) {
    try {
      const { jobId, snap } = await submit(app, system, step, vmId, snapshotId);
      jobs.push(jobId);
      say(`SUBMITTED ${i} ${jobId} ${snap ?? '-'}`);
    } catch (err) {
      say(`REFUSED ${i} ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const id of jobs) {
    const row = await app.deps.jobs.waitFor(id, 600_000);
    say(`DONE ${id} ${row.status}`);
  }
  await app.stop();
}

async function submit(
  app: App,
  system: NonNullable<Awaited<ReturnType<App['systemCaller']>>>,
  step: WorkloadStep,
  vmId: (name: string) => string,
  snapshotId: (vm: string, name: string) => Promise<string>,
): Promise<{ jobId: string; snap?: string }> {
  switch (step.op) {
    case 'create': {
      const made = await app.snapshotManager.create(system, {
        vmId: vmId(step.vm),
        name: step.name,
        snapshotMemory: step.memory ?? false,
      });
      return { jobId: made.jobId, snap: made.snapshot.id };
    }
    case 'revert':
      return app.snapshotManager.revert(system, await snapshotId(step.vm, step.name));
    case 'delete':
      return app.snapshotManager.delete(system, await snapshotId(step.vm, step.name));
    case 'start':
      return app.vmManager.start(system, vmId(step.vm));
    case 'stop':
      return app.vmManager.stop(system, vmId(step.vm));
    default:
      return assertNever(step, 'unexpected step');
  }
}

/** Wraps the gateway: matching commands run on the host, then their answer is never returned. */
function holdAnswers(app: App, holds: Workload['holdAfterAgent'] & object): void {
  if (holds.length === 0) return;
  const gateway = app.deps.agents;
  const send = gateway.send.bind(gateway);
  gateway.send = async <C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ) => {
    const answer: AnswerFor<C> = await send(hostId, command, options);
    const vmName = 'vmName' in command ? command.vmName : 'vm' in command ? command.vm.name : null;
    if (holds.some((h) => h.kind === command.kind && h.vmName === vmName)) {
      say(`HELD ${command.kind} ${vmName ?? '-'}`);
      return new Promise<AnswerFor<C>>(() => {});
    }
    return answer;
  };
}

/** Wraps the snapshot store: an insert is written (in whatever transaction it was given), then never returns. */
function holdAfterInsert(app: App): void {
  const snapshots = app.deps.snapshots;
  const insert = snapshots.insert.bind(snapshots);
  snapshots.insert = async (row, via) => {
    await insert(row, via);
    say(`HELD insert ${row.id}`);
    return new Promise(() => {});
  };
}

main().catch((err: unknown) => {
  process.stderr.write(
    `app-process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
