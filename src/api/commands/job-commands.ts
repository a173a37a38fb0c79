/** queryAsyncJobResult and listAsyncJobs: a user sees only its own account's jobs. */
import { loadOwned } from '../../manager/access.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import type { AsyncJobRow } from '../../store/schema.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { invalidEntityError } from '../protocol/index.ts';
import { renderJob } from '../render/job-response.ts';
import { loadLookups, type TagScope } from '../render/lookups.ts';

export const queryAsyncJobResult = defineCommand({
  name: 'queryAsyncJobResult',
  description: 'Retrieves the current status of an asynchronous job',
  params: { jobid: required(param.uuid('The ID of the asynchronous job')) },
  async handler({ services, caller, args }) {
    // Another account's job is reported exactly like a missing one: no information leaks.
    const { job } = await loadOwned(
      caller,
      async () => {
        const found = await services.jobs.get(args.jobid);
        return found === undefined ? undefined : { job: found, accountId: found.account_id };
      },
      () => invalidEntityError('queryAsyncJobResult', 'jobid', args.jobid),
    );
    return renderJob(services, job, caller.isAdmin);
  },
});

export const listAsyncJobs = defineCommand({
  name: 'listAsyncJobs',
  description: 'Lists all pending asynchronous jobs for the account',
  params: {
    startdate: param.date('The start date of the async job'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const scope = await listScope(services, caller, args, false);
    const page = await services.jobs.list(
      { accountId: scope.accountId, from: args.startdate?.ms },
      listPaging(services, reader),
    );
    // Results name snapshots and VMs: their tags are shown as queryAsyncJobResult shows them,
    // read for this page's jobs only.
    const lookups = await loadLookups(services, resultTagScopes(page.rows));
    return pagedPayload('asyncjobs', page, (j) => renderJob(services, j, caller.isAdmin, lookups));
  },
});

/** The snapshots and VMs that succeeded jobs name in their results (as renderJob reads them). */
function resultTagScopes(jobs: readonly AsyncJobRow[]): TagScope[] {
  const snapshots: string[] = [];
  const vms: string[] = [];
  for (const job of jobs) {
    if (job.status !== 'succeeded' || job.result === null) continue;
    const result = JSON.parse(job.result) as Record<string, unknown>;
    if (typeof result['vmsnapshot'] === 'string') snapshots.push(result['vmsnapshot']);
    else if (typeof result['virtualmachine'] === 'string') vms.push(result['virtualmachine']);
  }
  return [
    { type: 'VMSnapshot', ids: snapshots },
    { type: 'UserVm', ids: vms },
  ];
}
