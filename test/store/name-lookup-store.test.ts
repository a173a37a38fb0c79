/**
 * The names a response shows, read by key (readNamesOf; issue 15, item 2): a job's result shows
 * one account and one zone, and must not read every account and user of a large cloud to find
 * them, as readNames (every name) does. On SQLite the statement searches each table by its primary
 * key; the answer holds exactly the names asked for.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readNames, readNamesOf } from '../../src/store/name-lookup-store.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';

const ACCOUNTS = 300;

describe('readNamesOf reads the names asked for, by key', () => {
  const { db, captured, planOf } = sqlitePlanDatabase();

  beforeAll(async () => {
    for (let i = 0; i < ACCOUNTS; i++) {
      const id = `acc-${String(i).padStart(3, '0')}`;
      await db
        .insertInto('accounts')
        .values({
          id,
          name: `name-${i}`,
          role: 'user',
          domain_id: 'root',
          state: 'enabled',
          created: 0,
          removed: null,
        })
        .execute();
      await db
        .insertInto('users')
        .values({
          id: `user-${i}`,
          account_id: id,
          username: `login-${i}`,
          api_key: null,
          secret_key: null,
          state: 'enabled',
          created: 0,
          firstname: null,
          lastname: null,
          email: null,
        })
        .execute();
    }
    await db.insertInto('zones').values({ id: 'zone-1', name: 'Zone One', created: 0 }).execute();
  });

  it('answers exactly the listed names of each kind; duplicates and missing ids are harmless', async () => {
    const got = await readNamesOf(db, {
      account: ['acc-007', 'acc-007', null, undefined, 'acc-299'],
      user: ['user-5'],
      zone: ['zone-1', 'no-such-zone'],
    });
    const asText = got.map((r) => `${r.kind}:${r.id}=${r.name}`).sort();
    expect(asText).toEqual([
      'account:acc-007=name-7',
      'account:acc-299=name-299',
      'user:user-5=login-5',
      'zone:zone-1=Zone One',
    ]);
    // Every name: what a response used to read for the same two or three names.
    expect((await readNames(db)).length).toBeGreaterThanOrEqual(2 * ACCOUNTS + 1);
  });

  it('reads nothing when no name is asked for', async () => {
    captured.length = 0;
    expect(await readNamesOf(db, { account: [], zone: [null] })).toEqual([]);
    expect(captured).toEqual([]);
  });

  it('searches each table by its primary key, never scanning it', async () => {
    captured.length = 0;
    await readNamesOf(db, { account: ['acc-001'], user: ['user-1'], zone: ['zone-1'] });
    expect(captured).toHaveLength(1);
    const plan = planOf(captured[0]!);
    for (const table of ['accounts', 'users', 'zones']) {
      expect(plan).toMatch(
        new RegExp(`SEARCH ${table} USING (COVERING )?INDEX sqlite_autoindex_${table}_1 \\(id=\\?\\)`),
      );
      expect(plan).not.toMatch(new RegExp(`SCAN ${table}( |$)`));
    }
  });
});
