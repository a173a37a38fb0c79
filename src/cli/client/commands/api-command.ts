/**
 * `vmsnap api <command> [key=value …]`: any API command, signed, printing the JSON answer.
 * `key@=file` reads a value from a file (secrets stay out of `ps`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { awaitJob } from '../await-job.ts';
import { clientContext } from '../context.ts';
import { str } from '../output.ts';

export function registerApiCommand(program: Command): void {
  program
    .command('api <command> [params...]')
    .description(
      'call any API command with key=value parameters (key@=file: the value is read from the file) and print the JSON answer',
    )
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

/**
 * `key=value` pairs; the value may itself contain `=`. `key@=<file>` takes the value from a file
 * (its trimmed content): a secret such as addHost's password (the agent token) then never shows in
 * `ps`, as a command-line argument would. No API parameter name contains `@`.
 */
export function parseParams(
  args: readonly string[],
  readValue: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): Record<string, string> {
  const params: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`parameter ${arg} is not key=value or key@=file`);
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    if (!key.endsWith('@')) {
      params[key] = value;
      continue;
    }
    if (key.length === 1 || value === '') throw new Error(`parameter ${arg} is not key@=file`);
    params[key.slice(0, -1)] = fileValue(key.slice(0, -1), value, readValue);
  }
  return params;
}

function fileValue(key: string, file: string, readValue: (file: string) => string): string {
  try {
    return readValue(file).trim();
  } catch (err) {
    throw new Error(`cannot read ${key} from ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}
