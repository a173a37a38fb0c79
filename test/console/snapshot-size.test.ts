/** A snapshot's "Size" in the console: its disks' size (listVMSnapshot's `virtualsize`) in words. */
import { describe, expect, it } from 'vitest';
import { snapshotSize } from '../../src/console/model.ts';

describe('snapshotSize', () => {
  it('shows the disks in binary units', () => {
    expect(snapshotSize({ state: 'Ready', type: 'Disk', virtualsize: 320 * 1024 ** 3 })).toBe('320.0 GiB');
    expect(snapshotSize({ state: 'Ready', type: 'Disk', virtualsize: 1536 * 1024 ** 2 })).toBe('1.5 GiB');
    expect(snapshotSize({ state: 'Ready', type: 'Disk', virtualsize: 5 * 1024 ** 4 })).toBe('5.0 TiB');
    expect(snapshotSize({ state: 'Ready', type: 'Disk', virtualsize: 512 })).toBe('512 B');
  });

  it('says that a memory snapshot figure leaves its memory out', () => {
    expect(snapshotSize({ state: 'Ready', type: 'DiskAndMemory', virtualsize: 20 * 1024 ** 3 })).toBe(
      '20.0 GiB of disks, memory not counted',
    );
  });

  it('says why there is no figure', () => {
    expect(snapshotSize({ state: 'Creating', type: 'Disk' })).toBe('Not known yet');
    expect(snapshotSize({ state: 'Error', type: 'DiskAndMemory' })).toBe('Not reported');
  });
});
