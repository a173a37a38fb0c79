/**
 * listVMSnapshot's `virtualsize` is summed in the page's own statement, per page row, by a search
 * of vm_snapshot_volumes' primary key (snapshot_id, volume_id): no second statement, no scan of a
 * table that holds a row per volume of every snapshot (issue 14 on top of issue 15, item 2).
 */
import { describe, expect, it } from 'vitest';
import { LISTED_BY_DEFAULT } from '../../src/core/vm-snapshot-state.ts';
import { snapshotPageStatements, type SnapshotListFilter } from '../../src/store/vm-snapshot-list-store.ts';
import { sqlitePlanDatabase } from '../helpers/sqlite-query-plan.ts';

describe('the snapshot page sums volume sizes through the volumes primary key (SQLite)', () => {
  const { db, planOf } = sqlitePlanDatabase();

  const filters: [string, SnapshotListFilter][] = [
    ['admin listall', { accountId: null, states: LISTED_BY_DEFAULT }],
    ['one VM', { accountId: 'acc-a', vmId: 'vm-1', states: LISTED_BY_DEFAULT }],
  ];

  it.each(filters)('the %s page', (_label, filter) => {
    const { page } = snapshotPageStatements(db, filter, { offset: 0, limit: 500 });
    expect(page.sql).toMatch(/sum\("v"\."size"\)/);
    const plan = planOf(page);
    expect(plan).toMatch(/SEARCH v USING (COVERING )?INDEX \S+ \(snapshot_id=\?\)/);
    expect(plan).not.toMatch(/SCAN v( |$)/);
  });
});
