/**
 * The simulator's per-command record (issue 12, chaos test): every create, revert and delete of a VM
 * snapshot a simulated host applies is recorded once, with the job that sent it (the command's
 * requestId), its VM and snapshot and when it ran, in the same write as the VM's new state, so
 * the chaos test can count host-side executions per job. A command that did not apply (refused, or
 * its write lost to another server) leaves no record. Before, nothing was recorded and the create and
 * delete commands did not say which job sent them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemorySimulatorPersistence,
  SimulatorWorld,
  type SimCommandRecord,
  type SimulatorPersistence,
} from '../../src/hypervisors/simulator/index.ts';
import { openStore } from '../../src/store/database.ts';
import { SimulatorWorldStore } from '../../src/store/simulator-world-store.ts';
import { createTempDatabase, postgresUnavailable } from '../helpers/postgres.ts';
import { createSnapshot, snapshotTo, vmSpec, volume } from './fixtures.ts';

interface Backend {
  readonly persistence: SimulatorPersistence;
  commands(): Promise<readonly SimCommandRecord[]>;
  /** A row write from a stale version, carrying a record: must store neither. */
  staleWrite?(record: SimCommandRecord): Promise<boolean>;
  close(): Promise<void>;
}

interface Engine {
  readonly name: string;
  readonly skip: string | undefined;
  open(): Promise<Backend>;
}

async function storeBackend(url: string, drop: () => Promise<void>): Promise<Backend> {
  const opened = await openStore({ url });
  const store = new SimulatorWorldStore(opened.db, opened.dialect);
  return {
    persistence: store,
    commands: () => store.listCommands(),
    async staleWrite(record) {
      const row = await store.get('vm', 'vm');
      if (row === undefined) throw new Error('no vm row');
      return store.put('vm', 'vm', row.body, row.version - 1, record);
    },
    async close() {
      await opened.close();
      await drop();
    },
  };
}

const engines: Engine[] = [
  {
    name: 'memory',
    skip: undefined,
    async open() {
      const persistence = new MemorySimulatorPersistence();
      return { persistence, commands: async () => persistence.commands, close: async () => undefined };
    },
  },
  {
    name: 'SQLite',
    skip: undefined,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'vmsnap-simcmd-'));
      return storeBackend(`sqlite:${join(dir, 'vmsnap.db')}`, async () => rmSync(dir, { recursive: true }));
    },
  },
  {
    name: 'PostgreSQL',
    skip: postgresUnavailable(),
    async open() {
      const temp = await createTempDatabase();
      return storeBackend(temp.url, () => temp.drop());
    },
  },
];

describe.each(engines)('command records of simulated hosts ($name)', (engine) => {
  let backend: Backend | undefined;
  const worlds: SimulatorWorld[] = [];
  afterEach(async () => {
    for (const w of worlds.splice(0)) w.dispose();
    await backend?.close();
    backend = undefined;
  });

  async function twoServers(): Promise<[SimulatorWorld, SimulatorWorld]> {
    backend = await engine.open();
    for (let i = 0; i < 2; i += 1)
      worlds.push(await SimulatorWorld.open({ persistence: backend.persistence }));
    return worlds as [SimulatorWorld, SimulatorWorld];
  }

  it.skipIf(engine.skip !== undefined)(
    'records each applied snapshot command once, with its job, through any server; refusals leave none',
    async () => {
      const [a, b] = await twoServers();
      const onA = a.agentFor('host-1', 'zone-1');
      const onB = b.agentFor('host-1', 'zone-1');
      await onA.execute({ kind: 'CreateVM', vm: vmSpec('vm') });
      const s1 = snapshotTo('s1');
      expect(await onA.execute({ ...createSnapshot('vm', s1), requestId: 'job-1' })).toMatchObject({
        result: true,
      });
      // The same name again is refused by the host: nothing applied, nothing recorded.
      expect(await onB.execute({ ...createSnapshot('vm', s1), requestId: 'job-x' })).toMatchObject({
        result: false,
      });
      const revert = {
        kind: 'RevertToVMSnapshot' as const,
        vmName: 'vm',
        vmUuid: 'uuid-vm',
        target: s1,
        volumes: [volume('vm-root')],
        requestId: 'job-2',
      };
      expect(await onB.execute(revert)).toMatchObject({ result: true });
      const del = {
        kind: 'DeleteVMSnapshot' as const,
        vmName: 'vm',
        target: s1,
        volumes: [volume('vm-root')],
        requestId: 'job-3',
      };
      expect(await onA.execute(del)).toMatchObject({ result: true });
      // Deleting a snapshot already gone succeeds (as KVM) and ran on the host: it is recorded too.
      expect(await onB.execute({ ...del, requestId: 'job-4' })).toMatchObject({ result: true });

      const records = await backend!.commands();
      expect(records.map((r) => [r.kind, r.jobId, r.vmName, r.snapshotName, r.snapshotId])).toEqual([
        ['CreateVMSnapshot', 'job-1', 'vm', 's1', 'id-s1'],
        ['RevertToVMSnapshot', 'job-2', 'vm', 's1', 'id-s1'],
        ['DeleteVMSnapshot', 'job-3', 'vm', 's1', 'id-s1'],
        ['DeleteVMSnapshot', 'job-4', 'vm', 's1', 'id-s1'],
      ]);
      expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
      for (const r of records) {
        expect(r.hostId).toBe('host-1');
        expect(r.finished).toBeGreaterThanOrEqual(r.started);
      }
    },
  );

  // Only a store has a compare-and-set to lose: not registered for the in-memory world.
  if (engine.name !== 'memory') {
    it.skipIf(engine.skip !== undefined)(
      'a write that loses its compare-and-set stores no record',
      async () => {
        const [a] = await twoServers();
        const agent = a.agentFor('host-1', 'zone-1');
        await agent.execute({ kind: 'CreateVM', vm: vmSpec('vm') });
        await agent.execute({ ...createSnapshot('vm', snapshotTo('s1')), requestId: 'job-1' });
        const record: SimCommandRecord = {
          id: 'stale-1',
          kind: 'CreateVMSnapshot',
          jobId: 'job-stale',
          vmName: 'vm',
          snapshotName: 's2',
          snapshotId: 'id-s2',
          hostId: 'host-1',
          started: 1,
          finished: 2,
        };
        expect(await backend!.staleWrite!(record)).toBe(false);
        expect((await backend!.commands()).map((r) => r.jobId)).toEqual(['job-1']);
      },
    );
  }
});
