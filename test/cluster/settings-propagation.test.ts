/**
 * Issue 12, item 3: a setting changed through one management server reaches the others. Settings
 * used to be cached at start: after updateConfiguration vmsnapshot.max=12 through A, B still said 10.
 * Now every write bumps the settings version, and every server re-reads its cache when the version
 * moved, on each cluster beat (twice a second). The test counts B's beats instead of timing them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SettingsStore } from '../../src/store/settings-store.ts';
import { until } from '../helpers/eventually.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { sharedDatabase, type SharedDatabase } from './cluster-db.ts';
import { twoServersOnPostgres, type TwoServers } from './two-apps.ts';

/** The servers' cluster beat (App's default clusterIntervalMs): each beat re-reads the version. */
const BEAT_MS = 500;

describe('settings reach every server', () => {
  let shared: SharedDatabase | undefined;
  afterEach(async () => {
    await shared?.drop();
    shared = undefined;
  });

  it('a settings store re-reads its cache once another store changed a setting (SQLite)', async () => {
    shared = await sharedDatabase('sqlite');
    const [onA, onB] = [
      new SettingsStore((await shared.connect()).db),
      new SettingsStore((await shared.connect()).db),
    ];
    await onA.load();
    await onB.load();
    expect(await onB.refresh()).toBe(false);
    await onA.set('vmsnapshot.max', '12');
    expect(onB.get('vmsnapshot.max')).toBe('10');
    expect(await onB.refresh()).toBe(true);
    expect(onB.get('vmsnapshot.max')).toBe('12');
    expect(await onB.refresh()).toBe(false);
  });

  describe.skipIf(postgresUnavailable() !== undefined)('two servers on PostgreSQL', () => {
    let servers: TwoServers | undefined;
    afterEach(async () => {
      await servers?.close();
      servers = undefined;
    });

    it(`updateConfiguration through server A is what server B uses within one beat (${BEAT_MS} ms), no restart`, async () => {
      servers = await twoServersOnPostgres();
      const { a, b } = servers;
      expect(b.apiServices.settings.get('vmsnapshot.max')).toBe('10');
      // "Within a second" without timing the machine: B re-reads the settings version on each of
      // its cluster beats, and beats are BEAT_MS apart. A beat already under way when A writes may
      // miss the change; the first beat that starts after the write must see it. So when B first
      // shows the new value, at most one beat has started since the write: at most BEAT_MS plus one
      // beat's own work after it. (Before issue 12, B never saw it; a slower check fails here.)
      let beatsSinceWrite = 0;
      let written = false;
      const beat = b.cluster.beat.bind(b.cluster);
      b.cluster.beat = async (now?: number) => {
        if (written) beatsSinceWrite += 1;
        return beat(now);
      };
      // What updateConfiguration does on A (its handler calls services.settings.set).
      await a.app.apiServices.settings.set('vmsnapshot.max', '12');
      written = true;
      await until(
        () => b.apiServices.settings.get('vmsnapshot.max') === '12',
        'server B to see vmsnapshot.max=12',
      );
      expect(beatsSinceWrite).toBeLessThanOrEqual(1);
      await b.apiServices.settings.set('vmsnapshot.max', '7');
      await until(
        () => a.app.apiServices.settings.get('vmsnapshot.max') === '7',
        'server A to see vmsnapshot.max=7',
      );
    });
  });
});
