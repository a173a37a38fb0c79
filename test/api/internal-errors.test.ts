/**
 * Issue 9, item 10 (API part): raw SQL, QEMU and qemu-img texts must not reach API callers. An
 * unexpected error is answered with a generic 530 carrying an error id; the raw text is in the
 * server log under that id, and for a host's failure in an ERROR event that only admins see.
 * Deliberate CloudStack messages (the manager's checks) are unchanged.
 */
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bodyOf, errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const RAW_QEMU = "qemu-img: Could not open '/var/lib/vmsnap/pool/i-9-9-VM-ROOT.qcow2': Permission denied";

/** Every object the logger's `error` was called with. */
function loggedErrors(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.map((c) => c[0]).filter((o): o is Record<string, unknown> => typeof o === 'object');
}

describe('internal errors reach callers only as an error id', () => {
  let h: ApiHarness;
  let vmId: string;
  let vmName: string;

  beforeAll(async () => {
    h = await startApiServer();
    const vm = await h.t.vm('web-1');
    vmId = vm.id;
    vmName = vm.instanceName;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    h.t.app.simulator.faults.clear();
  });
  afterAll(async () => {
    await h.close();
  });

  it('an SQL error in a command answers 530 "Internal error, id …" and logs the raw text under the id', async () => {
    const logged = vi.spyOn(h.t.app.deps.log, 'error');
    await sql`ALTER TABLE zones RENAME TO zones_moved`.execute(h.t.app.deps.db);
    let res;
    try {
      res = await h.demo.call('listZones');
    } finally {
      await sql`ALTER TABLE zones_moved RENAME TO zones`.execute(h.t.app.deps.db);
    }
    const { errortext } = errorOf(res, 'listZones', 530);
    const id = new RegExp(`^Internal error, id (${UUID}); see the server log$`).exec(errortext)?.[1];
    expect(id, errortext).toBeDefined();
    expect(res.text).not.toMatch(/zones_moved|sqlite|no such table/i);
    const entry = loggedErrors(logged).find((o) => o['errorId'] === id);
    expect(String((entry?.['err'] as Error | undefined)?.message)).toMatch(/no such table: zones/);
  });

  it("a QEMU error from the host is a summary with an id in the job, the snapshot and the tenant's events", async () => {
    h.t.app.simulator.faults.add({
      command: 'CreateVMSnapshot',
      scope: { vmName },
      action: { kind: 'fail', message: RAW_QEMU },
    });
    const submitted = bodyOf(
      await h.demo.call('createVMSnapshot', { virtualmachineid: vmId, name: 'raw-host-text' }),
      'createVMSnapshot',
    );
    const job = await h.demo.waitForJob(submitted['jobid'] as string);
    expect(job).toMatchObject({ jobstatus: 2, jobresultcode: 530 });
    const errortext = String((job['jobresult'] as Record<string, unknown>)['errortext']);
    const id = new RegExp(`the host reported an error \\(error id (${UUID}); see the server log\\)`).exec(
      errortext,
    )?.[1];
    expect(id, errortext).toBeDefined();
    // The CloudStack framing is kept: the tenant still learns which operation failed.
    expect(errortext).toContain('Failed to create Instance Snapshot');
    expect(errortext).toContain('Creating VM snapshot');

    const tenantSees = JSON.stringify([
      job,
      await h.demo.payload('listVMSnapshot', { vmsnapshotid: String(submitted['id']) }),
      await h.demo.payload('listEvents', { listall: true }),
    ]);
    expect(tenantSees).not.toContain('qemu-img');
    expect(tenantSees).not.toContain('/var/lib/vmsnap');

    // Admins find the raw text under the same id.
    const events = itemsOf(await h.admin.payload('listEvents', { listall: true, level: 'ERROR' }), 'event');
    const forAdmins = events.filter(
      (e) => e['account'] === 'admin' && String(e['description']).includes(id!),
    );
    expect(forAdmins).toHaveLength(1);
    expect(forAdmins[0]!['description']).toContain(RAW_QEMU);
  });

  it('an unexpected error inside a snapshot job is shown with an id, not its text', async () => {
    const logged = vi.spyOn(h.t.app.deps.log, 'error');
    vi.spyOn(h.t.app.deps.snapshots, 'finalizeCreate').mockRejectedValueOnce(
      new Error('SQLITE_CONSTRAINT: UNIQUE constraint failed: vm_snapshot_volumes.snapshot_id'),
    );
    const submitted = bodyOf(
      await h.demo.call('createVMSnapshot', { virtualmachineid: vmId, name: 'sql-in-job' }),
      'createVMSnapshot',
    );
    const job = await h.demo.waitForJob(submitted['jobid'] as string);
    const errortext = String((job['jobresult'] as Record<string, unknown>)['errortext']);
    expect(errortext).toMatch(
      new RegExp(`an internal error occurred \\(error id ${UUID}; see the server log\\)`),
    );
    expect(JSON.stringify(job)).not.toMatch(/SQLITE|constraint/i);
    const id = new RegExp(`error id (${UUID})`).exec(errortext)?.[1];
    expect(loggedErrors(logged).find((o) => o['errorId'] === id)?.['err']).toMatch(/SQLITE_CONSTRAINT/);
  });

  it("keeps the manager's deliberate messages as they are", async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const res = await h.demo.call('createVMSnapshot', { virtualmachineid: missing });
    const { errortext } = errorOf(res, 'createVMSnapshot', 431);
    expect(errortext).toMatch(/^Creating Instance Snapshot failed because Instance/);
    expect(errortext).toContain(missing);
  });
});
