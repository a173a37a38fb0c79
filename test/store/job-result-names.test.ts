/**
 * A finished job's result (queryAsyncJobResult, the last poll of every create) shows one account
 * and one zone name: it reads those by key, never every account, user, zone, host and pool name of
 * the cloud (issue 15, item 2), and renders exactly what the HTTP API answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../src/api/api-services.ts';
import { renderJob } from '../../src/api/render/job-response.ts';
import { createApiServices } from '../../src/app/api-services.ts';
import type { NameIds } from '../../src/store/name-lookup-store.ts';
import { bodyOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

describe('a job result reads the names it shows by key', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiServer();
  });
  afterAll(async () => {
    await h.close();
  });

  /** The app's services, with every-name reads refused and by-key reads recorded. */
  function recordingServices(asked: NameIds[]): ApiServices {
    const services = createApiServices(h.t.app);
    return {
      ...services,
      names: {
        ...services.names,
        all: () => Promise.reject(new Error('read every name for one job result')),
        of: (ids) => {
          asked.push(ids);
          return services.names.of(ids);
        },
      },
    };
  }

  it('a createVMSnapshot result: the snapshot account and zone, as the HTTP answer shows them', async () => {
    const vm = await h.t.vm('web-1');
    const res = await h.demo.call('createVMSnapshot', { virtualmachineid: vm.id });
    const jobId = bodyOf(res, 'createVMSnapshot')['jobid'] as string;
    const answered = await h.demo.waitForJob(jobId);
    expect(answered['jobstatus']).toBe(1);

    const job = await h.t.app.deps.db
      .selectFrom('async_jobs')
      .selectAll()
      .where('id', '=', jobId)
      .executeTakeFirstOrThrow();
    const asked: NameIds[] = [];
    const rendered = await renderJob(recordingServices(asked), job, false);
    expect(JSON.parse(JSON.stringify(rendered))).toEqual(answered);
    expect(asked).toEqual([{ account: [h.t.demo.accountId], zone: [vm.zoneId] }]);
    const snapshot = (answered['jobresult'] as { vmsnapshot: Record<string, unknown> }).vmsnapshot;
    expect(snapshot['account']).toBe('demo');
    expect(snapshot['zonename']).not.toBe(vm.zoneId);
  });
});
