/**
 * Waiting for an async job on behalf of a command: progress on stderr while it runs, then the final
 * job. A failed job becomes an error carrying the job's own error text, so the CLI exits non-zero
 * with CloudStack's message; with `--json` the failed job is printed first for scripts.
 */
import { jobFailure, type JobPayload } from './api-client.ts';
import type { ClientContext } from './context.ts';
import { ProgressLine } from './progress-line.ts';

export async function awaitJob(ctx: ClientContext, jobId: string, label: string): Promise<JobPayload> {
  const line = new ProgressLine(`${label} (job ${jobId})`, ctx.progress);
  const started = Date.now();
  const job = await ctx.client.waitForJob(jobId, (p) => line.update(p));
  const failed = job.jobstatus !== 1;
  line.finish(failed ? 'failed' : 'succeeded', Date.now() - started);
  if (failed) {
    if (ctx.out.json) ctx.out.printJson(job);
    throw new Error(`${label} failed: ${jobFailure(job).message}`);
  }
  return job;
}
