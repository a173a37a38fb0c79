/**
 * AsyncJobResponse as queryAsyncJobResult returns it. Job results are stored as references
 * (`{vmsnapshot: id}`, `{virtualmachine: id}`, `{success: true}`, or an error) and rendered here,
 * so the job layer never depends on the API's response shapes.
 */
import type { AsyncJobRow } from '../../store/schema.ts';
import type { ApiServices } from '../api-services.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, loadLookups, type Lookups, type TagScope } from './lookups.ts';
import { renderVm } from './vm-response.ts';
import { renderVmSnapshot } from './vm-snapshot-response.ts';

const STATUS_CODE: Record<string, number> = { queued: 0, running: 0, succeeded: 1, failed: 2 };

export async function renderJob(
  services: ApiServices,
  job: AsyncJobRow,
  isAdmin: boolean,
  lookups?: Lookups,
): Promise<Record<string, unknown>> {
  const status = STATUS_CODE[job.status] ?? 0;
  const out: Record<string, unknown> = {
    accountid: job.account_id,
    userid: job.user_id,
    domainid: DOMAIN.id,
    domainpath: DOMAIN.path,
    cmd: job.cmd,
    jobstatus: status,
    jobprocstatus: 0,
    jobresultcode: job.result_code,
    jobinstancetype: job.instance_type ?? undefined,
    jobinstanceid: job.instance_id ?? undefined,
    created: formatDate(Number(job.created)),
    jobid: job.id,
  };
  if (status !== 0) {
    // Names are looked up only for a result: a poll of a running job is one read (clients poll hard).
    const l = lookups ?? (await loadLookups(services, tagScopeOf(job)));
    out['jobresulttype'] = 'object';
    out['jobresult'] = await renderResult(services, job, isAdmin, l);
    if (job.completed !== null) out['completed'] = formatDate(Number(job.completed));
  } else if (job.progress !== null) {
    // vmsnap extension: what the job is doing now (CloudStack has no such field; clients ignore it).
    out['jobprogress'] = job.progress;
  }
  return out;
}

async function renderResult(
  services: ApiServices,
  job: AsyncJobRow,
  isAdmin: boolean,
  l: Lookups,
): Promise<unknown> {
  const result = job.result === null ? {} : (JSON.parse(job.result) as Record<string, unknown>);
  if (job.status === 'failed') return { errorcode: result['errorcode'], errortext: result['errortext'] };
  if (typeof result['vmsnapshot'] === 'string') {
    const snap = await services.snapshots.get(result['vmsnapshot'], true);
    if (snap === undefined) return {};
    const vm = await services.inventory.getVm(snap.vmId);
    const parent = snap.parentId === null ? undefined : await services.snapshots.get(snap.parentId, true);
    return { vmsnapshot: renderVmSnapshot(snap, vm, parent, l) };
  }
  if (typeof result['virtualmachine'] === 'string') {
    const vm = await services.inventory.getVm(result['virtualmachine']);
    return vm === undefined ? {} : { virtualmachine: renderVm(vm, l, isAdmin) };
  }
  return result;
}

/** Tags shown in a job's result: those of the snapshot or VM it names. */
function tagScopeOf(job: AsyncJobRow): TagScope | undefined {
  if (job.status !== 'succeeded' || job.result === null) return undefined;
  const result = JSON.parse(job.result) as Record<string, unknown>;
  if (typeof result['vmsnapshot'] === 'string') return { type: 'VMSnapshot', ids: [result['vmsnapshot']] };
  if (typeof result['virtualmachine'] === 'string')
    return { type: 'UserVm', ids: [result['virtualmachine']] };
  return undefined;
}
