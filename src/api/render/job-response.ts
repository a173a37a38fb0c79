/**
 * AsyncJobResponse as queryAsyncJobResult returns it. Job results are stored as references
 * (`{vmsnapshot: id}`, `{virtualmachine: id}`, `{success: true}`, or an error) and rendered here,
 * so the job layer never depends on the API's response shapes.
 */
import type { AsyncJobRow } from '../../store/schema.ts';
import type { ApiServices } from '../api-services.ts';
import { formatDate } from '../protocol/index.ts';
import { DOMAIN, loadLookups, type Lookups } from './lookups.ts';
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
    // Names are looked up only for a result (a poll of a running job is one read: clients poll
    // hard), and only those the result shows, by key: never every account of the cloud.
    out['jobresulttype'] = 'object';
    out['jobresult'] = await renderResult(services, job, isAdmin, lookups);
    if (job.completed !== null) out['completed'] = formatDate(Number(job.completed));
  } else if (job.progress !== null) {
    // vmsnap extension: what the job is doing now (CloudStack has no such field; clients ignore it).
    out['jobprogress'] = job.progress;
  }
  return out;
}

/** The result the job names, with the names and tags it shows (`given`: a page of jobs' lookups). */
async function renderResult(
  services: ApiServices,
  job: AsyncJobRow,
  isAdmin: boolean,
  given: Lookups | undefined,
): Promise<unknown> {
  const result = job.result === null ? {} : (JSON.parse(job.result) as Record<string, unknown>);
  if (job.status === 'failed') return { errorcode: result['errorcode'], errortext: result['errortext'] };
  if (typeof result['vmsnapshot'] === 'string') {
    const snap = await services.snapshots.get(result['vmsnapshot'], true);
    if (snap === undefined) return {};
    const vm = await services.inventory.getVm(snap.vmId);
    const parent = snap.parentId === null ? undefined : await services.snapshots.get(snap.parentId, true);
    const l =
      given ??
      (await loadLookups(
        services,
        { type: 'VMSnapshot', ids: [snap.id] },
        { account: [snap.accountId], zone: [vm?.zoneId] },
      ));
    // The disks' size at the take, as listVMSnapshot shows it (unknown without volume records).
    const size = snap.volumes.length === 0 ? undefined : snap.volumes.reduce((a, v) => a + v.size, 0);
    return { vmsnapshot: renderVmSnapshot(snap, vm, parent, l, size) };
  }
  if (typeof result['virtualmachine'] === 'string') {
    const vm = await services.inventory.getVm(result['virtualmachine']);
    if (vm === undefined) return {};
    const l =
      given ??
      (await loadLookups(
        services,
        { type: 'UserVm', ids: [vm.id] },
        { account: [vm.accountId], zone: [vm.zoneId], host: [vm.hostId] },
      ));
    return { virtualmachine: renderVm(vm, l, isAdmin) };
  }
  return result;
}
