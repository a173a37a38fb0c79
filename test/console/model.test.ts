/** The console's pure helpers: the snapshot tree built from a flat list, and states in words. */
import { describe, expect, it } from 'vitest';
import {
  bytes,
  milliseconds,
  snapshotTree,
  stateInWords,
  type SnapshotRow,
} from '../../src/console/model.ts';

function row(id: string, parent?: string): SnapshotRow {
  return {
    id,
    displayname: id,
    name: id,
    state: 'Ready',
    type: 'Disk',
    current: false,
    created: '2026-12-01T10:00:00+0000',
    virtualmachineid: 'vm',
    ...(parent !== undefined ? { parent } : {}),
  };
}

describe('snapshotTree', () => {
  it('nests children under their parents, oldest first, from the API’s newest-first list', () => {
    // a ─ b ─ d
    //   └ c
    const tree = snapshotTree([row('d', 'b'), row('c', 'a'), row('b', 'a'), row('a')]);
    expect(tree.map((n) => n.snapshot.id)).toEqual(['a']);
    expect(tree[0]!.children.map((n) => n.snapshot.id)).toEqual(['b', 'c']);
    expect(tree[0]!.children[0]!.children.map((n) => n.snapshot.id)).toEqual(['d']);
  });

  it('shows a snapshot whose parent is not listed (deleted or hidden) as a root', () => {
    const tree = snapshotTree([row('b', 'gone'), row('a')]);
    expect(tree.map((n) => n.snapshot.id)).toEqual(['a', 'b']);
  });
});

describe('words', () => {
  it('names states as a person would', () => {
    expect(stateInWords('Ready')).toBe('Ready');
    expect(stateInWords('Creating')).toBe('Creating');
    expect(stateInWords('Expunging')).toBe('Deleting');
    expect(stateInWords('Error')).toBe('Error');
  });

  it('formats durations and sizes', () => {
    expect(milliseconds(undefined)).toBe('None');
    expect(milliseconds(512)).toBe('512 ms');
    expect(milliseconds(1500)).toBe('1.50 s');
    expect(bytes(20 * 1024 ** 3)).toBe('20.0 GiB');
    expect(bytes(undefined)).toBe('Not reported');
  });
});
