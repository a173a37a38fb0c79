/** `vmsnap vm list|start|stop`: listVirtualMachines, startVirtualMachine, stopVirtualMachine. */
import type { Command } from 'commander';
import { isPayload, type Payload } from '../api-client.ts';
import { awaitJob } from '../await-job.ts';
import { clientContext, type ClientContext } from '../context.ts';
import { str } from '../output.ts';
import { resolveVm } from '../resolve-vm.ts';

export function registerVmCommands(program: Command): void {
  const vm = program.command('vm').description('list, start and stop VMs');

  vm.command('list')
    .description('list the VMs you can see (all accounts for an admin)')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = clientContext(cmd);
      if (ctx.out.json)
        return ctx.out.printJson(await ctx.client.call('listVirtualMachines', { listall: true }));
      printVms(ctx, await ctx.client.listAll('listVirtualMachines', 'virtualmachine', { listall: true }));
    });

  vm.command('start <vm>')
    .description('start a VM (id or name); waits for the job unless --no-wait')
    .option('--no-wait', 'print the job id and return at once')
    .action(async (ref: string, opts: { wait: boolean }, cmd: Command) => {
      await changeState(clientContext(cmd), 'startVirtualMachine', ref, opts.wait, {});
    });

  vm.command('stop <vm>')
    .description('stop a VM (id or name); waits for the job unless --no-wait')
    .option('--force', 'force the stop')
    .option('--no-wait', 'print the job id and return at once')
    .action(async (ref: string, opts: { wait: boolean; force?: boolean }, cmd: Command) => {
      await changeState(clientContext(cmd), 'stopVirtualMachine', ref, opts.wait, {
        forced: opts.force === true ? true : undefined,
      });
    });
}

async function changeState(
  ctx: ClientContext,
  command: 'startVirtualMachine' | 'stopVirtualMachine',
  ref: string,
  wait: boolean,
  extra: Record<string, boolean | undefined>,
): Promise<void> {
  const vm = await resolveVm(ctx.client, ref);
  const started = await ctx.client.call(command, { id: vm.id, ...extra });
  const jobId = str(started['jobid']);
  if (!wait) {
    if (ctx.out.json) return ctx.out.printJson(started);
    return ctx.out.record([
      ['vm', `${vm.name} (${vm.id})`],
      ['job id', jobId],
    ]);
  }
  const verb = command === 'startVirtualMachine' ? 'starting' : 'stopping';
  const job = await awaitJob(ctx, jobId, `${verb} ${vm.name}`);
  if (ctx.out.json) return ctx.out.printJson(job);
  const result = job.jobresult?.['virtualmachine'];
  printVms(ctx, isPayload(result) ? [result] : []);
}

/** The host column only means something to an admin, whose responses carry `instancename`. */
function printVms(ctx: ClientContext, vms: readonly Payload[]): void {
  const admin = vms.some((v) => v['instancename'] !== undefined);
  const head = ['id', 'name', 'state', ...(admin ? ['host'] : []), 'memory (MB)', 'cpus', 'account'];
  const rows = vms.map((v) => [
    str(v['id']),
    str(v['name']),
    str(v['state']),
    ...(admin ? [str(v['hostname'])] : []),
    str(v['memory']),
    str(v['cpunumber']),
    str(v['account']),
  ]);
  if (rows.length === 0) return ctx.out.line('no VMs');
  ctx.out.table(head, rows, { wrap: [1, head.length - 1] });
}
