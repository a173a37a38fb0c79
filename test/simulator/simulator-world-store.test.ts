/**
 * The simulated zone in the management database (issue 12, item 1), on SQLite (two connections on one
 * file) and on PostgreSQL (two pools on one database): two management servers see one zone, a fault
 * count is consumed exactly once however they race, and a stale write is refused (compare-and-set).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { SimulatorWorldStore } from '../../src/store/simulator-world-store.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { createSnapshot, snapshotTo, vmSpec } from './fixtures.ts';

interface Engine {
  readonly name: string;
  readonly skip: string | undefined;
  /** A database URL every "server" of one test opens. */
  url(): Promise<{ url: string; drop(): Promise<void> }>;
}

const engines: Engine[] = [
  {
    name: 'SQLite',
    skip: undefined,
    async url() {
      const dir = mkdtempSync(join(tmpdir(), 'vmsnap-simstore-'));
      return { url: `sqlite:${join(dir, 'vmsnap.db')}`, drop: async () => rmSync(dir, { recursive: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: postgresUnavailable(),
    async url() {
      const temp: TempDatabase = await createTempDatabase();
      return { url: temp.url, drop: () => temp.drop() };
    },
  },
];

describe.each(engines)('the simulated zone on $name', (engine) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** `n` management servers: each its own connection(s) and its own world on one database. */
  async function servers(n: number): Promise<{ worlds: SimulatorWorld[]; stores: SimulatorWorldStore[] }> {
    const db = await engine.url();
    cleanups.push(() => db.drop());
    const worlds: SimulatorWorld[] = [];
    const stores: SimulatorWorldStore[] = [];
    for (let i = 0; i < n; i += 1) {
      const opened: OpenedStore = await openStore({ url: db.url });
      const store = new SimulatorWorldStore(opened.db);
      const world = await SimulatorWorld.open({ persistence: store });
      cleanups.push(async () => {
        world.dispose();
        await opened.close();
      });
      worlds.push(world);
      stores.push(store);
    }
    return { worlds, stores };
  }

  it.skipIf(engine.skip !== undefined)(
    'a VM started through one server is snapshotted through another',
    async () => {
      const { worlds } = await servers(2);
      const [a, b] = worlds as [SimulatorWorld, SimulatorWorld];
      await a.agentFor('host-1', 'zone-1').execute({ kind: 'StartVM', vm: vmSpec('vm') });
      const onB = b.agentFor('host-1', 'zone-1');
      expect(await onB.execute(createSnapshot('vm', snapshotTo('s')))).toMatchObject({ result: true });
      expect(
        await a
          .agentFor('host-1', 'zone-1')
          .execute({ kind: 'CheckVMSnapshot', vmName: 'vm', target: snapshotTo('s') }),
      ).toMatchObject({ result: true, exists: true, current: true });
    },
  );

  it.skipIf(engine.skip !== undefined)(
    'a count=3 fault is consumed exactly three times across three servers',
    async () => {
      const { worlds } = await servers(3);
      for (const [i, world] of worlds.entries()) {
        await world.agentFor(`host-${i}`, 'zone-1').execute({ kind: 'CreateVM', vm: vmSpec(`vm-${i}`) });
      }
      await worlds[0]?.configureDurably({ name: 'CreateVMSnapshotCommand', value: 'result:fail', count: 3 });
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, n) => {
          const i = n % 3;
          const world = worlds[i] as SimulatorWorld;
          return world
            .agentFor(`host-${i}`, 'zone-1')
            .execute(createSnapshot(`vm-${i}`, snapshotTo(`s${n}`)));
        }),
      );
      expect(answers.filter((r) => !r.result)).toHaveLength(3);
    },
  );

  it.skipIf(engine.skip !== undefined)(
    'a write from a stale version is refused; rows keep their order',
    async () => {
      const { stores } = await servers(2);
      const [a, b] = stores as [SimulatorWorldStore, SimulatorWorldStore];
      expect(await a.put('vm', 'x', '{"v":1}', null)).toBe(true);
      expect(await b.put('vm', 'x', '{"v":"b"}', null)).toBe(false);
      expect(await b.put('vm', 'x', '{"v":2}', 1)).toBe(true);
      expect(await a.put('vm', 'x', '{"v":"stale"}', 1)).toBe(false);
      expect(await a.get('vm', 'x')).toEqual({ name: 'x', body: '{"v":2}', version: 2 });
      expect(await a.remove('vm', 'x', 1)).toBe(false);
      await a.set('fault', 'second', '{}');
      await b.set('fault', 'first', '{}');
      await a.set('fault', 'second', '{"changed":true}');
      expect((await b.list('fault')).map((r) => r.name)).toEqual(['second', 'first']);
      await b.replaceAll('fault', [{ name: 'only', body: '{}' }]);
      expect((await a.list('fault')).map((r) => r.name)).toEqual(['only']);
    },
  );
});
