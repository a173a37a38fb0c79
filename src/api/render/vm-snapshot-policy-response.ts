/**
 * The `vmsnapshotpolicy` response object (issue 13), in the spirit of CloudStack's
 * SnapshotPolicyResponse: the schedule as given (intervaltype + schedule, or cron), its timezone,
 * the retention (maxsnaps, or keephourly … keepyearly), the next run and the last run's outcome.
 */
import { parseSchedule } from '../../schedules/schedule-spec.ts';
import { describeSchedule } from '../../schedules/schedule-spec.ts';
import { nextSlotAfter } from '../../schedules/slot-calendar.ts';
import { scheduleInputOf, type StoredVmSnapshotPolicy } from '../../store/vm-snapshot-policy-store.ts';
import { POLICY_RESOURCE_TYPE } from '../../store/vm-snapshot-policy-store.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, type Lookups } from './lookups.ts';

export function renderVmSnapshotPolicy(
  p: StoredVmSnapshotPolicy,
  vmName: string | undefined,
  lookups: Lookups,
  now: number,
): Record<string, unknown> {
  const spec = parseSchedule(scheduleInputOf(p.schedule));
  const out: Record<string, unknown> = {
    id: p.id,
    virtualmachineid: p.vmId,
    virtualmachinename: vmName,
  };
  if (p.schedule.kind === 'interval') {
    out['intervaltype'] = p.schedule.intervalType;
    out['schedule'] = p.schedule.schedule;
  } else out['cron'] = p.schedule.cron;
  out['scheduledescription'] = describeSchedule(spec);
  out['timezone'] = p.timezone;
  if (p.retention.kind === 'maxsnaps') out['maxsnaps'] = p.retention.maxsnaps;
  else {
    out['keephourly'] = p.retention.keephourly;
    out['keepdaily'] = p.retention.keepdaily;
    out['keepweekly'] = p.retention.keepweekly;
    out['keepmonthly'] = p.retention.keepmonthly;
    out['keepyearly'] = p.retention.keepyearly;
  }
  Object.assign(out, {
    snapshotmemory: p.snapshotMemory,
    quiescevm: p.quiesce,
    description: p.description,
    nextrun: formatDate(nextSlotAfter(spec, p.timezone, Math.max(now, p.lastSlot ?? now))),
    created: formatDate(p.created),
    account: lookups.accountName(p.accountId),
    domainid: DOMAIN.id,
    domain: DOMAIN.name,
    tags: lookups.tagsOf(POLICY_RESOURCE_TYPE, p.id),
  });
  if (p.lastSlot !== null) out['lastrun'] = formatDate(p.lastSlot);
  if (p.lastRunOutcome !== null) out['lastrunoutcome'] = p.lastRunOutcome;
  if (p.lastRunReason !== null && p.lastRunReason !== '') out['lastrunreason'] = p.lastRunReason;
  return out;
}
