/** queryAsyncJobResult and listAsyncJobs: a user sees only its own account's jobs. */
import { defineCommand, listParams, param, required } from '../command.ts';
import { listScope, pagedList } from '../list-support.ts';
import { invalidEntityError } from '../protocol/index.ts';
import { renderJob } from '../render/job-response.ts';
import { loadLookups } from '../render/lookups.ts';

export const queryAsyncJobResult = defineCommand({
  name: 'queryAsyncJobResult',
  description: 'Retrieves the current status of an asynchronous job',
  params: { jobid: required(param.uuid('The ID of the asynchronous job')) },
  async handler({ app, caller, args }) {
    const job = await app.deps.jobs.get(args.jobid);
    // Another account's job is reported exactly like a missing one: no information leaks.
    if (job === undefined || (!caller.isAdmin && job.account_id !== caller.accountId)) {
      throw invalidEntityError('queryAsyncJobResult', 'jobid', args.jobid);
    }
    return renderJob(app, job, caller.isAdmin);
  },
});

export const listAsyncJobs = defineCommand({
  name: 'listAsyncJobs',
  description: 'Lists all pending asynchronous jobs for the account',
  params: {
    startdate: param.string('The start date of the async job (yyyy-MM-dd)'),
    ...listParams,
  },
  async handler({ app, caller, args, reader }) {
    const scope = await listScope(app, caller, args, false);
    let q = app.deps.db.selectFrom('async_jobs').selectAll().orderBy('seq', 'desc');
    if (args.startdate !== undefined) {
      const start = Date.parse(args.startdate);
      if (!Number.isNaN(start)) q = q.where('created', '>=', start);
    }
    const jobs = (await q.execute()).filter((j) => scope.visible(j.account_id));
    // Results name snapshots and VMs: their tags are shown as queryAsyncJobResult shows them.
    const lookups = await loadLookups(app, [{ type: 'VMSnapshot' }, { type: 'UserVm' }]);
    return pagedList(app, reader, 'asyncjobs', jobs, (j) => renderJob(app, j, caller.isAdmin, lookups));
  },
});
