/**
 * `vmsnap snapshot create|list|revert|delete`: createVMSnapshot, listVMSnapshot (shown as a tree),
 * revertToVMSnapshot, deleteVMSnapshot, with vmsnap's extra fields (strategy, consistency, pause
 * and freeze window) in the result row. Snapshots and VMs are given by id or by name.
 */
import type { Command } from 'commander';
import { isPayload, type Payload } from '../api-client.ts';
import { awaitJob } from '../await-job.ts';
import { clientContext, type ClientContext } from '../context.ts';
import { ms, str } from '../output.ts';
import { resolveSnapshot } from '../resolve-snapshot.ts';
import { resolveVm } from '../resolve-vm.ts';
import { snapshotTrees, treeLabel } from '../snapshot-tree.ts';

interface CreateOptions {
  memory?: boolean;
  quiesce?: boolean;
  name?: string;
  description?: string;
  memoryMode?: string;
  wait?: boolean;
}

export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description('create, list, revert and delete VM snapshots');

  snapshot
    .command('create <vm>')
    .description('snapshot a VM (id or name); prints the snapshot id and job id, or waits with --wait')
    .option('--memory', 'include the memory (a DiskAndMemory snapshot)')
    .option('--quiesce', 'freeze the guest file systems through the guest agent')
    .option('--name <name>', 'display name of the snapshot')
    .option('--description <text>', 'description of the snapshot')
    .option('--memory-mode <mode>', 'QEMU hosts: live (background RAM save) or internal')
    .option('--wait', 'wait for the job, showing progress, then print the snapshot')
    .action(async (ref: string, opts: CreateOptions, cmd: Command) => create(clientContext(cmd), ref, opts));

  snapshot
    .command('list')
    .description('show the snapshot tree of each VM (the current snapshot marked *)')
    .option('--vm <vm>', 'only this VM (id or name)')
    .action(async (opts: { vm?: string }, cmd: Command) => list(clientContext(cmd), opts.vm));

  snapshot
    .command('revert <snapshot>')
    .description('revert the VM to a snapshot (id or name); waits for the job unless --no-wait')
    .option('--vm <vm>', 'look the name up among the snapshots of this VM only (id or name)')
    .option('--no-wait', 'print the job id and return at once')
    .action(async (ref: string, opts: JobOptions, cmd: Command) =>
      runSnapshotJob(clientContext(cmd), 'revertToVMSnapshot', ref, opts),
    );

  snapshot
    .command('delete <snapshot>')
    .description('delete a snapshot (id or name); waits for the job unless --no-wait')
    .option('--vm <vm>', 'look the name up among the snapshots of this VM only (id or name)')
    .option('--no-wait', 'print the job id and return at once')
    .action(async (ref: string, opts: JobOptions, cmd: Command) =>
      runSnapshotJob(clientContext(cmd), 'deleteVMSnapshot', ref, opts),
    );
}

interface JobOptions {
  wait: boolean;
  vm?: string;
}

async function create(ctx: ClientContext, ref: string, opts: CreateOptions): Promise<void> {
  if (opts.memoryMode !== undefined && opts.memoryMode !== 'live' && opts.memoryMode !== 'internal') {
    throw new Error(`--memory-mode must be live or internal, not ${opts.memoryMode}`);
  }
  const vm = await resolveVm(ctx.client, ref);
  const created = await ctx.client.call('createVMSnapshot', {
    virtualmachineid: vm.id,
    snapshotmemory: opts.memory === true ? true : undefined,
    quiescevm: opts.quiesce === true ? true : undefined,
    name: opts.name,
    description: opts.description,
    memorymode: opts.memoryMode,
  });
  const jobId = str(created['jobid']);
  if (opts.wait !== true) {
    if (ctx.out.json) return ctx.out.printJson(created);
    return ctx.out.record([
      ['snapshot id', str(created['id'])],
      ['job id', jobId],
    ]);
  }
  const job = await awaitJob(ctx, jobId, `snapshot of ${vm.name}`);
  if (ctx.out.json) return ctx.out.printJson(job);
  const snap = job.jobresult?.['vmsnapshot'];
  printResultRow(ctx, isPayload(snap) ? snap : { id: created['id'] });
}

function printResultRow(ctx: ClientContext, s: Payload): void {
  ctx.out.table(
    ['id', 'name', 'state', 'type', 'strategy', 'consistency', 'pause ms', 'freeze ms', 'total ms'],
    [
      [
        str(s['id']),
        str(s['displayname']),
        str(s['state']),
        str(s['type']),
        str(s['strategy']),
        str(s['consistency']),
        ms(s['pausems']),
        ms(s['freezewindowms']),
        ms(s['durationms']),
      ],
    ],
    { wrap: [1] },
  );
}

async function list(ctx: ClientContext, vmRef: string | undefined): Promise<void> {
  // listall: an admin otherwise sees only its own account's snapshots, even of a named VM.
  const vmId = vmRef === undefined ? undefined : (await resolveVm(ctx.client, vmRef)).id;
  const params = { listall: true, virtualmachineid: vmId };
  if (ctx.out.json) return ctx.out.printJson(await ctx.client.call('listVMSnapshot', params));
  const trees = snapshotTrees(await ctx.client.listAll('listVMSnapshot', 'vmSnapshot', params));
  if (trees.length === 0) return ctx.out.line('no snapshots');
  for (const tree of trees) {
    ctx.out.line(`VM ${tree.vmName} (${tree.vmId})`);
    ctx.out.table(
      ['', 'snapshot', 'id', 'state', 'type', 'strategy', 'created'],
      tree.rows.map((row) => [
        row.snapshot['current'] === true ? '*' : '',
        treeLabel(row),
        str(row.snapshot['id']),
        str(row.snapshot['state']),
        str(row.snapshot['type']),
        str(row.snapshot['strategy']),
        str(row.snapshot['created']),
      ]),
      { wrap: [1] },
    );
  }
}

async function runSnapshotJob(
  ctx: ClientContext,
  command: 'revertToVMSnapshot' | 'deleteVMSnapshot',
  ref: string,
  opts: JobOptions,
): Promise<void> {
  const { id: snapshotId, label } = await resolveSnapshot(ctx.client, ref, opts.vm);
  const started = await ctx.client.call(command, { vmsnapshotid: snapshotId });
  const jobId = str(started['jobid']);
  if (!opts.wait) {
    if (ctx.out.json) return ctx.out.printJson(started);
    return ctx.out.record([['job id', jobId]]);
  }
  const verb = command === 'revertToVMSnapshot' ? 'revert to' : 'delete of';
  const job = await awaitJob(ctx, jobId, `${verb} snapshot ${label}`);
  if (ctx.out.json) return ctx.out.printJson(job);
  const vm = job.jobresult?.['virtualmachine'];
  if (command === 'revertToVMSnapshot' && isPayload(vm)) {
    ctx.out.line(`reverted ${str(vm['name'])} to snapshot ${label}; the VM is ${str(vm['state'])}`);
  } else {
    ctx.out.line(`${command === 'revertToVMSnapshot' ? 'reverted to' : 'deleted'} snapshot ${label}`);
  }
}
