import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiHarness } from '../helpers/api-server.ts';

describe('values with control characters', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiServer();
  });
  afterAll(async () => {
    await h.close();
  });

  it('are refused with CloudStack 431 and nothing is created', async () => {
    const vm = (await h.t.vm('web-1')).id;
    const res = await h.demo.call('createVMSnapshot', { virtualmachineid: vm, name: 'bad\u0001name' });
    expect(res.status).toBe(431);
    const body = res.json['createvmsnapshotresponse'] as { errorcode: number; errortext: string };
    expect(body.errorcode).toBe(431);
    expect(body.errortext).toContain('illegal ASCII non-printable characters for parameter name');
    expect(await h.t.app.deps.snapshots.listByVm(vm)).toEqual([]);
  });
});
