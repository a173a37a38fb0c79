/**
 * The whole VM snapshot lifecycle over real HTTP with a signing client, as a CloudStack tool drives
 * it: create (memory on a running VM, disk on a stopped one) -> poll -> list -> revert -> delete, and
 * a failure injected with configureSimulator that surfaces as a failed job (530) and an Error row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { CLOUDSTACK_DATE } from '../helpers/shape-check.ts';

describe('VM snapshot lifecycle over signed HTTP', () => {
  let h: ApiHarness;
  const vm: Record<string, string> = {};

  beforeAll(async () => {
    h = await startApiServer();
    for (const v of itemsOf(await h.demo.payload('listVirtualMachines'), 'virtualmachine')) {
      vm[v['name'] as string] = v['id'] as string;
    }
  });
  afterAll(async () => {
    await h.close();
  });

  async function createAndWait(params: Record<string, string | boolean>) {
    const created = await h.demo.payload('createVMSnapshot', params);
    expect(created['id']).toEqual(expect.any(String));
    const job = await h.demo.waitForJob(created['jobid'] as string);
    return { id: created['id'] as string, jobid: created['jobid'] as string, job };
  }

  async function runJob(command: string, params: Record<string, string>) {
    const accepted = await h.demo.payload(command, params);
    expect(Object.keys(accepted)).toEqual(['jobid']);
    return h.demo.waitForJob(accepted['jobid'] as string);
  }

  function snapshotOf(job: Record<string, unknown>): Record<string, unknown> {
    return (job['jobresult'] as { vmsnapshot: Record<string, unknown> }).vmsnapshot;
  }

  it('create (memory + disk) -> poll -> list -> revert -> delete', async () => {
    const memory = await createAndWait({
      virtualmachineid: vm['web-1']!,
      snapshotmemory: true,
      name: 'before-upgrade',
      description: 'memory snapshot',
    });
    expect(memory.job).toMatchObject({
      jobstatus: 1,
      jobresultcode: 0,
      jobinstancetype: 'VmSnapshot',
      jobinstanceid: memory.id,
    });
    expect(memory.job['cmd']).toBe('org.apache.cloudstack.api.command.user.vmsnapshot.CreateVMSnapshotCmd');
    const memSnap = snapshotOf(memory.job);
    expect(memSnap).toMatchObject({
      id: memory.id,
      displayname: 'before-upgrade',
      description: 'memory snapshot',
      state: 'Ready',
      type: 'DiskAndMemory',
      current: true,
      virtualmachineid: vm['web-1'],
      virtualmachinename: 'web-1',
      account: 'demo',
    });
    expect(memSnap['created']).toMatch(CLOUDSTACK_DATE);
    // vmsnap's extra fields: which strategy took it, and how long each phase took.
    expect(memSnap['strategy']).toEqual(expect.any(String));
    expect(memSnap['phasetimesms']).toEqual(expect.any(Object));
    expect(Object.keys(memSnap['phasetimesms'] as object).length).toBeGreaterThan(0);

    const disk = await createAndWait({ virtualmachineid: vm['app-1']!, name: 'cold' });
    expect(disk.job['jobstatus']).toBe(1);
    expect(snapshotOf(disk.job)).toMatchObject({ state: 'Ready', type: 'Disk', virtualmachinename: 'app-1' });
    expect(snapshotOf(disk.job)['strategy']).toEqual(expect.any(String));

    // A second memory snapshot on web-1 makes the first one its parent.
    const second = await createAndWait({
      virtualmachineid: vm['web-1']!,
      snapshotmemory: true,
      name: 'after',
    });
    expect(snapshotOf(second.job)).toMatchObject({
      parent: memory.id,
      parentName: 'before-upgrade',
      current: true,
    });

    const listed = itemsOf(
      await h.demo.payload('listVMSnapshot', { virtualmachineid: vm['web-1']! }),
      'vmSnapshot',
    );
    expect(listed.map((s) => [s['id'], s['state'], s['current']])).toEqual([
      [second.id, 'Ready', true],
      [memory.id, 'Ready', false],
    ]);
    expect(listed[0]!['strategy']).toEqual(expect.any(String));
    expect(listed[0]!['phasetimesms']).toEqual(expect.any(Object));
    const byId = await h.demo.payload('listVMSnapshot', { vmsnapshotid: disk.id });
    expect(byId['count']).toBe(1);

    const revertMem = await runJob('revertToVMSnapshot', { vmsnapshotid: memory.id });
    expect(revertMem).toMatchObject({ jobstatus: 1, jobresultcode: 0 });
    expect(
      (revertMem['jobresult'] as { virtualmachine: Record<string, unknown> }).virtualmachine,
    ).toMatchObject({
      id: vm['web-1'],
      state: 'Running',
    });
    const afterRevert = itemsOf(
      await h.demo.payload('listVMSnapshot', { virtualmachineid: vm['web-1']! }),
      'vmSnapshot',
    );
    expect(afterRevert.find((s) => s['current'] === true)?.['id']).toBe(memory.id);

    const revertDisk = await runJob('revertToVMSnapshot', { vmsnapshotid: disk.id });
    expect(
      (revertDisk['jobresult'] as { virtualmachine: Record<string, unknown> }).virtualmachine,
    ).toMatchObject({
      id: vm['app-1'],
      state: 'Stopped',
    });

    for (const id of [second.id, memory.id, disk.id]) {
      const deleted = await runJob('deleteVMSnapshot', { vmsnapshotid: id });
      expect(deleted).toMatchObject({ jobstatus: 1, jobresultcode: 0, jobresult: { success: true } });
    }
    expect(await h.demo.payload('listVMSnapshot', { virtualmachineid: vm['web-1']! })).toEqual({});
    expect(await h.demo.payload('listVMSnapshot', { virtualmachineid: vm['app-1']! })).toEqual({});

    const events = itemsOf(await h.demo.payload('listEvents', { pagesize: -1 }), 'event').map(
      (e) => e['type'],
    );
    expect(events).toEqual(
      expect.arrayContaining(['VMSNAPSHOT.CREATE', 'VMSNAPSHOT.REVERTTO', 'VMSNAPSHOT.DELETE']),
    );
  });

  it('revert guards: a disk snapshot cannot be reverted onto a running VM (431, synchronous)', async () => {
    const disk = await createAndWait({ virtualmachineid: vm['db-1']!, name: 'db-disk' });
    expect(disk.job['jobstatus']).toBe(1);
    const res = await h.demo.call('revertToVMSnapshot', { vmsnapshotid: disk.id });
    expect(res.status).toBe(431);
    expect((res.json['reverttovmsnapshotresponse'] as Record<string, unknown>)['errortext']).toContain(
      'not allowed for running Instances',
    );
    expect((await runJob('deleteVMSnapshot', { vmsnapshotid: disk.id }))['jobstatus']).toBe(1);
  });

  it('a failure injected with configureSimulator gives a failed job (530) and an Error snapshot, which can be deleted', async () => {
    const armed = await h.admin.payload('configureSimulator', {
      name: 'CreateVMSnapshotCommand',
      value: 'result:fail',
      virtualmachineid: vm['db-1']!,
      count: 1,
    });
    expect(armed['success']).toBe(true);

    const failed = await createAndWait({
      virtualmachineid: vm['db-1']!,
      snapshotmemory: true,
      name: 'doomed',
    });
    expect(failed.job).toMatchObject({ jobstatus: 2, jobresultcode: 530, jobresulttype: 'object' });
    const result = failed.job['jobresult'] as Record<string, unknown>;
    expect(result['errorcode']).toBe(530);
    expect(result['errortext']).toEqual(expect.any(String));
    expect(result).not.toHaveProperty('cserrorcode');

    const listed = itemsOf(await h.demo.payload('listVMSnapshot', { vmsnapshotid: failed.id }), 'vmSnapshot');
    expect(listed.map((s) => s['state'])).toEqual(['Error']);
    const byState = itemsOf(await h.demo.payload('listVMSnapshot', { state: 'Error' }), 'vmSnapshot');
    expect(byState.map((s) => s['id'])).toEqual([failed.id]);

    const deleted = await runJob('deleteVMSnapshot', { vmsnapshotid: failed.id });
    expect(deleted['jobstatus']).toBe(1);
    expect(await h.demo.payload('listVMSnapshot', { vmsnapshotid: failed.id })).toEqual({});

    // count=1: the rule is used up, the next create succeeds.
    const ok = await createAndWait({ virtualmachineid: vm['db-1']!, snapshotmemory: true, name: 'retry' });
    expect(ok.job['jobstatus']).toBe(1);
    expect(snapshotOf(ok.job)['state']).toBe('Ready');
  });
});
