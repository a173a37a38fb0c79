/**
 * createVMSnapshotPolicy, updateVMSnapshotPolicy, listVMSnapshotPolicies, deleteVMSnapshotPolicies
 * (issue 13), modelled on CloudStack's createSnapshotPolicy family, and vmsnap's
 * previewVMSnapshotPolicyRetention (what `vmsnap schedule … --dry-run` shows). CloudStack has no
 * VM snapshot policies (its issues 8826 and 11445 ask for them); these follow its volume snapshot
 * policies' parameters, with two extensions: `cron` in place of intervaltype + schedule, and
 * keephourly … keepyearly in place of maxsnaps.
 */
import { InvalidParameterError } from '../../core/errors.ts';
import { describeSchedule } from '../../schedules/schedule-spec.ts';
import type {
  RetentionParams,
  ScheduleParams,
  UpdatePolicyRequest,
} from '../../manager/vm-snapshot-policy-manager.ts';
import type { StoredVmSnapshotPolicy } from '../../store/vm-snapshot-policy-store.ts';
import type { ApiServices } from '../api-services.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { formatDate, listPayload } from '../protocol/index.ts';
import { loadLookups } from '../render/lookups.ts';
import { renderVmSnapshotPolicy } from '../render/vm-snapshot-policy-response.ts';

const scheduleParams = {
  intervaltype: param.string('valid values are HOURLY, DAILY, WEEKLY, and MONTHLY'),
  schedule: param.string(
    'time the snapshot is scheduled to be taken. Format is: if HOURLY, MM; if DAILY, MM:HH; if WEEKLY, MM:HH:DD (1-7); if MONTHLY, MM:HH:DD (1-28)',
  ),
  cron: param.string(
    'vmsnap: a 5-field cron expression (minute hour day-of-month month day-of-week), instead of intervaltype and schedule',
  ),
} as const;

const retentionParams = {
  maxsnaps: param.integer('maximum number of snapshots to retain (at most vmsnapshot.max)'),
  keephourly: param.integer(
    'vmsnap: keep the newest snapshot of each of the last N hours (instead of maxsnaps)',
  ),
  keepdaily: param.integer('vmsnap: keep the newest snapshot of each of the last N days'),
  keepweekly: param.integer('vmsnap: keep the newest snapshot of each of the last N ISO weeks'),
  keepmonthly: param.integer('vmsnap: keep the newest snapshot of each of the last N months'),
  keepyearly: param.integer('vmsnap: keep the newest snapshot of each of the last N years'),
} as const;

/** The schedule and retention parameters, as the manager takes them (create, update, preview). */
function scheduleAndRetention(args: ScheduleParams & RetentionParams): ScheduleParams & RetentionParams {
  return {
    intervaltype: args.intervaltype,
    schedule: args.schedule,
    cron: args.cron,
    maxsnaps: args.maxsnaps,
    keephourly: args.keephourly,
    keepdaily: args.keepdaily,
    keepweekly: args.keepweekly,
    keepmonthly: args.keepmonthly,
    keepyearly: args.keepyearly,
  };
}

/** The schedule, retention and option parameters create and update share, as the manager takes them. */
function policyFields(
  args: ScheduleParams &
    RetentionParams & {
      readonly timezone?: string | undefined;
      readonly snapshotmemory?: boolean | undefined;
      readonly quiescevm?: boolean | undefined;
      readonly description?: string | undefined;
    },
): ScheduleParams & RetentionParams & Omit<UpdatePolicyRequest, 'id'> {
  return {
    ...scheduleAndRetention(args),
    timezone: args.timezone,
    snapshotMemory: args.snapshotmemory,
    quiesce: args.quiescevm,
    description: args.description,
  };
}

const TIMEZONE_DOC =
  'an IANA timezone (e.g. UTC, Europe/Berlin) in which the schedule runs; daylight saving changes neither double nor skip a run';

export const createVMSnapshotPolicy = defineCommand({
  name: 'createVMSnapshotPolicy',
  description:
    'vmsnap: creates a schedule of snapshots of an Instance, with retention (CloudStack has createSnapshotPolicy for volumes only)',
  params: {
    virtualmachineid: required(param.uuid('the ID of the Instance')),
    ...scheduleParams,
    timezone: required(param.string(TIMEZONE_DOC)),
    ...retentionParams,
    snapshotmemory: param.boolean(
      'snapshot memory too (a Stopped Instance gets a disk-only snapshot); default false',
    ),
    quiescevm: param.boolean('quiesce the Instance (guest agent freeze); default false'),
    description: param.string('a description of the policy'),
    tags: param.map('Map of tags (key/value pairs)'),
  },
  async handler({ services, caller, args }) {
    const policy = await services.policies.create(caller, {
      ...policyFields(args),
      vmId: args.virtualmachineid,
      timezone: args.timezone,
      tags: args.tags,
    });
    return { vmsnapshotpolicy: await renderOne(services, policy) };
  },
});

export const updateVMSnapshotPolicy = defineCommand({
  name: 'updateVMSnapshotPolicy',
  description: 'vmsnap: updates a VM snapshot policy; parameters not given are kept',
  params: {
    id: required(param.uuid('the ID of the VM snapshot policy')),
    ...scheduleParams,
    timezone: param.string(TIMEZONE_DOC),
    ...retentionParams,
    snapshotmemory: param.boolean('snapshot memory too'),
    quiescevm: param.boolean('quiesce the Instance'),
    description: param.string('a description of the policy'),
  },
  async handler({ services, caller, args }) {
    const policy = await services.policies.update(caller, {
      ...policyFields(args),
      id: args.id,
    });
    return { vmsnapshotpolicy: await renderOne(services, policy) };
  },
});

export const listVMSnapshotPolicies = defineCommand({
  name: 'listVMSnapshotPolicies',
  description: 'vmsnap: lists VM snapshot policies, oldest first',
  params: {
    id: param.uuid('the ID of the VM snapshot policy'),
    virtualmachineid: param.uuid('the ID of the Instance'),
    tags: param.map('List resources by tags (key/value pairs)'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const ids = args.id !== undefined ? [args.id] : undefined;
    const scope = await listScope(services, caller, args, ids !== undefined);
    const page = await services.policies.listPage(
      {
        ids,
        vmId: args.virtualmachineid,
        accountId: scope.accountId,
        keyword: args.keyword,
        tags: args.tags,
      },
      listPaging(services, reader),
    );
    const lookups = await loadLookups(services, {
      type: 'VMSnapshotPolicy',
      ids: page.rows.map((p) => p.id),
    });
    const now = Date.now();
    return pagedPayload('vmsnapshotpolicy', page, async (p) =>
      renderVmSnapshotPolicy(p, await vmNameOf(services, p.vmId), lookups, now),
    );
  },
});

export const deleteVMSnapshotPolicies = defineCommand({
  name: 'deleteVMSnapshotPolicies',
  description:
    'vmsnap: deletes VM snapshot policies; their snapshots are kept unless deletesnapshots=true (then they are deleted by delete jobs)',
  params: {
    id: param.uuid('the ID of the VM snapshot policy'),
    ids: param.uuids('the IDs of the VM snapshot policies'),
    deletesnapshots: param.boolean("also delete the policies' snapshots; default false"),
  },
  async handler({ services, caller, args }) {
    if (args.id !== undefined && args.ids !== undefined) {
      throw new InvalidParameterError('Specify either id or ids but not both parameters');
    }
    const ids = args.ids ?? (args.id !== undefined ? [args.id] : []);
    if (ids.length === 0) throw new InvalidParameterError('Either id or ids parameter must be specified');
    const jobs = await services.policies.delete(caller, ids, args.deletesnapshots ?? false);
    return { success: true, ...(jobs.length > 0 ? { deletejobids: jobs } : {}) };
  },
});

export const previewVMSnapshotPolicyRetention = defineCommand({
  name: 'previewVMSnapshotPolicyRetention',
  description:
    "vmsnap: which of a policy's snapshots its retention keeps or deletes now, and why (`--dry-run`); with id, optionally other retention or schedule parameters; with virtualmachineid, a policy not created yet",
  params: {
    id: param.uuid('the ID of the VM snapshot policy'),
    virtualmachineid: param.uuid('the ID of the Instance (a policy not created yet)'),
    ...scheduleParams,
    timezone: param.string(TIMEZONE_DOC),
    ...retentionParams,
  },
  async handler({ services, caller, args }) {
    const preview = await services.policies.preview(caller, {
      ...(args.id !== undefined ? { id: args.id } : {}),
      ...(args.virtualmachineid !== undefined ? { vmId: args.virtualmachineid } : {}),
      ...(args.timezone !== undefined ? { timezone: args.timezone } : {}),
      ...scheduleAndRetention(args),
    });
    const decisions = preview.decisions.map((d) => ({
      vmsnapshotid: d.snapshot.id,
      displayname: d.snapshot.displayName,
      created: formatDate(d.snapshot.createdAt),
      countedat: formatDate(d.countedAt),
      keep: d.keep,
      reason: d.reason,
    }));
    return {
      ...listPayload('retentiondecision', decisions, decisions.length),
      ...(preview.spec !== undefined ? { scheduledescription: describeSchedule(preview.spec) } : {}),
      ...(preview.timezone !== undefined ? { timezone: preview.timezone } : {}),
      nextruns: preview.nextRuns.map(formatDate),
    };
  },
});

async function vmNameOf(services: ApiServices, vmId: string): Promise<string | undefined> {
  const vm = await services.inventory.getVm(vmId);
  return vm === undefined ? undefined : vm.displayName;
}

async function renderOne(services: ApiServices, p: StoredVmSnapshotPolicy): Promise<Record<string, unknown>> {
  const lookups = await loadLookups(services, { type: 'VMSnapshotPolicy', ids: [p.id] });
  return renderVmSnapshotPolicy(p, await vmNameOf(services, p.vmId), lookups, Date.now());
}
