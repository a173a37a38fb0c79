/** `vmsnap job show <jobid>`: queryAsyncJobResult as a record. */
import type { Command } from 'commander';
import { isPayload, type JobPayload } from '../api-client.ts';
import { clientContext } from '../context.ts';
import { str } from '../output.ts';

const STATUS: Record<number, string> = { 0: 'pending', 1: 'succeeded', 2: 'failed' };

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('inspect async jobs');
  job
    .command('show <jobid>')
    .description('status, result code, and the result or error of an async job')
    .action(async (jobId: string, _opts: unknown, cmd: Command) => {
      const ctx = clientContext(cmd);
      const j = await ctx.client.queryJob(jobId);
      if (ctx.out.json) return ctx.out.printJson(j);
      ctx.out.record([
        ['job id', j.jobid],
        ['command', shortCommand(str(j['cmd']))],
        ['status', STATUS[j.jobstatus] ?? String(j.jobstatus)],
        ['result code', j.jobresultcode],
        ['progress', j.jobprogress],
        ['instance', [str(j['jobinstancetype']), str(j['jobinstanceid'])].join(' ').trim()],
        ['created', str(j['created'])],
        ['completed', str(j['completed'])],
        ...resultRows(j),
      ]);
    });
}

/** `org.apache…CreateVMSnapshotCmd` -> `CreateVMSnapshotCmd`. */
function shortCommand(cmd: string): string {
  return cmd.slice(cmd.lastIndexOf('.') + 1);
}

function resultRows(j: JobPayload): [string, string][] {
  const r = j.jobresult;
  if (r === undefined) return [];
  if (j.jobstatus === 2) return [['error', `${str(r['errorcode'])} ${str(r['errortext'])}`.trim()]];
  const snap = r['vmsnapshot'];
  if (isPayload(snap)) {
    return [
      [
        'result',
        `snapshot ${str(snap['id'])} ${str(snap['displayname'])} ${str(snap['state'])} ${str(snap['type'])}`,
      ],
    ];
  }
  const vm = r['virtualmachine'];
  if (isPayload(vm)) return [['result', `VM ${str(vm['id'])} ${str(vm['name'])} ${str(vm['state'])}`]];
  return [['result', JSON.stringify(r)]];
}
