/**
 * `vmsnap schedule create|list|delete|prune` (issue 13): VM snapshot policies through
 * createVMSnapshotPolicy, listVMSnapshotPolicies, deleteVMSnapshotPolicies and
 * previewVMSnapshotPolicyRetention. `--dry-run` (on create and prune) shows which existing
 * snapshots the policy's retention would keep or delete, and why, without changing anything.
 */
import type { Command } from 'commander';
import type { ApiParams, Payload } from '../api-client.ts';
import { itemsOf } from '../api-client.ts';
import { clientContext, type ClientContext } from '../context.ts';
import { str } from '../output.ts';
import { resolveVm } from '../resolve-vm.ts';

export interface RetentionOptions {
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  maxSnaps?: string;
}

export interface ScheduleCreateOptions extends RetentionOptions {
  vm: string;
  every?: string;
  at?: string;
  day?: string;
  interval?: string;
  schedule?: string;
  cron?: string;
  timezone?: string;
  memory?: boolean;
  quiesce?: boolean;
  description?: string;
  dryRun?: boolean;
}

const EVERY: Record<string, string> = { hour: 'HOURLY', day: 'DAILY', week: 'WEEKLY', month: 'MONTHLY' };

export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('scheduled VM snapshots with retention (VM snapshot policies)');
  const create = schedule
    .command('create')
    .description('create a schedule of snapshots of a VM; --dry-run shows what its retention would do')
    .requiredOption('--vm <vm>', 'the VM (id or name)')
    .option('--every <unit>', 'hour, day, week or month (with --at and --day)')
    .option('--at <time>', 'with --every: MM for hour, HH:MM otherwise (default :00 / 00:00)')
    .option('--day <n>', 'with --every week: 1 (Sunday) to 7; with --every month: 1 to 28 (default 1)')
    .option('--interval <type>', "CloudStack's intervaltype: HOURLY, DAILY, WEEKLY or MONTHLY")
    .option('--schedule <spec>', "CloudStack's schedule: MM, MM:HH or MM:HH:D(D)")
    .option('--cron <expr>', 'a 5-field cron expression instead')
    .option('--timezone <tz>', 'IANA timezone of the schedule (default: this machine’s)');
  addRetentionOptions(create)
    .option('--memory', 'include the memory (a Stopped VM gets a disk-only snapshot)')
    .option('--quiesce', 'freeze the guest file systems through the guest agent')
    .option('--description <text>', 'description of the schedule')
    .option('--dry-run', 'create nothing: show the schedule, its next runs and what its retention would keep')
    .action(async (opts: ScheduleCreateOptions, cmd: Command) => createSchedule(clientContext(cmd), opts));

  schedule
    .command('list')
    .description('list the schedules, with their next run and last outcome')
    .option('--vm <vm>', 'only this VM (id or name)')
    .action(async (opts: { vm?: string }, cmd: Command) => listSchedules(clientContext(cmd), opts.vm));

  schedule
    .command('delete <id>')
    .description('delete a schedule; its snapshots are kept unless --delete-snapshots')
    .option('--delete-snapshots', 'also delete the snapshots it took')
    .action(async (id: string, opts: { deleteSnapshots?: boolean }, cmd: Command) =>
      deleteSchedule(clientContext(cmd), id, opts.deleteSnapshots === true),
    );

  const prune = schedule
    .command('prune <id>')
    .description(
      "show which of a schedule's snapshots its retention (or the one given) keeps or deletes, and why",
    )
    .option('--dry-run', 'required: retention is applied by each run, this only shows it');
  addRetentionOptions(prune).action(
    async (id: string, opts: RetentionOptions & { dryRun?: boolean }, cmd: Command) =>
      pruneSchedule(clientContext(cmd), id, opts),
  );
}

function addRetentionOptions(cmd: Command): Command {
  return cmd
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last N hours')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last N days')
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last N weeks')
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last N months')
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the last N years')
    .option('--max-snaps <n>', 'keep the newest N snapshots instead');
}

/** The API's schedule parameters from --every/--at/--day, --interval/--schedule or --cron. */
export function scheduleParams(o: ScheduleCreateOptions): ApiParams {
  if (o.every === undefined)
    return { intervaltype: o.interval?.toUpperCase(), schedule: o.schedule, cron: o.cron };
  if (o.interval !== undefined || o.schedule !== undefined || o.cron !== undefined) {
    throw new Error('give --every, --interval/--schedule or --cron, not several');
  }
  const type = EVERY[o.every];
  if (type === undefined) throw new Error(`--every must be hour, day, week or month, not ${o.every}`);
  const [hh, mm] = type === 'HOURLY' ? ['', o.at ?? '0'] : (o.at ?? '00:00').split(':');
  if (mm === undefined) throw new Error(`--at must be HH:MM with --every ${o.every}, not ${o.at ?? ''}`);
  const base = type === 'HOURLY' ? mm : `${mm}:${hh ?? '00'}`;
  const day = type === 'WEEKLY' || type === 'MONTHLY' ? `:${o.day ?? '1'}` : '';
  return { intervaltype: type, schedule: `${base}${day}` };
}

export function retentionParams(o: RetentionOptions): ApiParams {
  return {
    keephourly: o.keepHourly,
    keepdaily: o.keepDaily,
    keepweekly: o.keepWeekly,
    keepmonthly: o.keepMonthly,
    keepyearly: o.keepYearly,
    maxsnaps: o.maxSnaps,
  };
}

export async function createSchedule(ctx: ClientContext, o: ScheduleCreateOptions): Promise<void> {
  const vm = await resolveVm(ctx.client, o.vm);
  const timezone = o.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const params: ApiParams = { ...scheduleParams(o), timezone, ...retentionParams(o) };
  if (o.dryRun === true) {
    const preview = await ctx.client.call('previewVMSnapshotPolicyRetention', {
      virtualmachineid: vm.id,
      ...params,
    });
    if (ctx.out.json) return ctx.out.printJson(preview);
    ctx.out.line(`dry run: no schedule created for VM ${vm.name}`);
    return printPreview(ctx, preview);
  }
  const created = await ctx.client.call('createVMSnapshotPolicy', {
    virtualmachineid: vm.id,
    ...params,
    snapshotmemory: o.memory === true ? true : undefined,
    quiescevm: o.quiesce === true ? true : undefined,
    description: o.description,
  });
  if (ctx.out.json) return ctx.out.printJson(created);
  const p = created['vmsnapshotpolicy'] as Payload;
  ctx.out.record([
    ['id', str(p['id'])],
    ['vm', str(p['virtualmachinename'])],
    ['schedule', str(p['scheduledescription'])],
    ['timezone', str(p['timezone'])],
    ['retention', retentionText(p)],
    ['next run', str(p['nextrun'])],
  ]);
}

export async function listSchedules(ctx: ClientContext, vmRef: string | undefined): Promise<void> {
  const vmId = vmRef === undefined ? undefined : (await resolveVm(ctx.client, vmRef)).id;
  const params = { listall: true, virtualmachineid: vmId };
  if (ctx.out.json) return ctx.out.printJson(await ctx.client.call('listVMSnapshotPolicies', params));
  const policies = await ctx.client.listAll('listVMSnapshotPolicies', 'vmsnapshotpolicy', params);
  if (policies.length === 0) return ctx.out.line('no schedules');
  ctx.out.table(
    ['id', 'vm', 'schedule', 'timezone', 'retention', 'next run', 'last run', 'outcome'],
    policies.map((p) => [
      str(p['id']),
      str(p['virtualmachinename']),
      str(p['scheduledescription']),
      str(p['timezone']),
      retentionText(p),
      str(p['nextrun']),
      str(p['lastrun']),
      str(p['lastrunoutcome']),
    ]),
    { wrap: [1, 2, 4] },
  );
}

export async function deleteSchedule(
  ctx: ClientContext,
  id: string,
  deleteSnapshots: boolean,
): Promise<void> {
  const res = await ctx.client.call('deleteVMSnapshotPolicies', {
    id,
    deletesnapshots: deleteSnapshots || undefined,
  });
  if (ctx.out.json) return ctx.out.printJson(res);
  const jobs = Array.isArray(res['deletejobids']) ? res['deletejobids'].length : 0;
  ctx.out.line(
    deleteSnapshots
      ? `deleted schedule ${id}; deleting its ${jobs} snapshot(s)`
      : `deleted schedule ${id}; its snapshots are kept`,
  );
}

export async function pruneSchedule(
  ctx: ClientContext,
  id: string,
  o: RetentionOptions & { dryRun?: boolean },
): Promise<void> {
  if (o.dryRun !== true) {
    throw new Error(
      'retention is applied by each run of the schedule; `schedule prune --dry-run` shows what it keeps',
    );
  }
  const preview = await ctx.client.call('previewVMSnapshotPolicyRetention', { id, ...retentionParams(o) });
  if (ctx.out.json) return ctx.out.printJson(preview);
  printPreview(ctx, preview);
}

function printPreview(ctx: ClientContext, preview: Payload): void {
  const nextRuns = Array.isArray(preview['nextruns']) ? preview['nextruns'].map(str) : [];
  ctx.out.record([
    ['schedule', str(preview['scheduledescription'])],
    ['timezone', str(preview['timezone'])],
    ['next runs', nextRuns.join(', ')],
  ]);
  const decisions = itemsOf(preview, 'retentiondecision');
  if (decisions.length === 0) {
    return ctx.out.line(
      'no snapshots of this schedule: retention deletes nothing (it never touches other snapshots)',
    );
  }
  ctx.out.table(
    ['snapshot', 'id', 'for', 'action', 'why'],
    decisions.map((d) => [
      str(d['displayname']),
      str(d['vmsnapshotid']),
      str(d['countedat']),
      d['keep'] === true ? 'keep' : 'delete',
      str(d['reason']),
    ]),
    { wrap: [0, 4] },
  );
}

function retentionText(p: Payload): string {
  if (p['maxsnaps'] !== undefined) return `newest ${str(p['maxsnaps'])}`;
  const levels = ['hourly', 'daily', 'weekly', 'monthly', 'yearly']
    .map((l) => [l, p[`keep${l}`]] as const)
    .filter(([, n]) => typeof n === 'number' && n > 0)
    .map(([l, n]) => `${l} ${String(n)}`);
  return `keep ${levels.join(', ')}`;
}
