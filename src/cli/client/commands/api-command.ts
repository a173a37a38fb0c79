/** `vmsnap api <command> [key=value …]`: any API command, signed, printing the JSON answer. */
import type { Command } from 'commander';
import { awaitJob } from '../await-job.ts';
import { clientContext } from '../context.ts';
import { str } from '../output.ts';

export function registerApiCommand(program: Command): void {
  program
    .command('api <command> [params...]')
    .description('call any API command with key=value parameters and print the JSON answer')
    .option('--wait', 'when the answer has a jobid, wait for the job and print its result')
    .action(async (command: string, params: string[], opts: { wait?: boolean }, cmd: Command) => {
      const ctx = clientContext(cmd);
      const body = await ctx.client.raw(command, parseParams(params));
      const payload = body[`${command.toLowerCase()}response`];
      const jobId =
        typeof payload === 'object' && payload !== null
          ? str((payload as Record<string, unknown>)['jobid'])
          : '';
      if (opts.wait !== true || jobId === '') return ctx.out.printJson(body);
      const job = await awaitJob(ctx, jobId, command);
      ctx.out.printJson({ queryasyncjobresultresponse: job });
    });
}

/** `key=value` pairs; the value may itself contain `=`. */
export function parseParams(args: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`parameter ${arg} is not key=value`);
    params[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return params;
}
