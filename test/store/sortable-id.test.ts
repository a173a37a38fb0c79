/** Time-ordered ids: valid lowercase UUIDs that sort, as text, in the order they were made. */
import { describe, expect, it } from 'vitest';
import { sortableId } from '../../src/store/sortable-id.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('sortableId', () => {
  it('ids made in one millisecond (past the 12-bit counter) or with the clock going back still sort in order', () => {
    const at = Date.UTC(2030, 0, 1);
    const ids = [
      ...Array.from({ length: 5000 }, () => sortableId(at)),
      ...Array.from({ length: 10 }, () => sortableId(at - 60_000)),
      ...Array.from({ length: 10 }, () => sortableId(at + 60_000)),
    ];
    expect(ids.every((id) => UUID.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
