import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventually, until } from './eventually.ts';

describe('eventually', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('returns the first value the probe gives, after as many probes as it takes', async () => {
    let probes = 0;
    expect(
      await eventually(() => (++probes === 3 ? 'ready' : undefined), 'three probes', { everyMs: 1 }),
    ).toBe('ready');
    expect(probes).toBe(3);
  });

  it('keeps polling while a test has fake timers installed', async () => {
    vi.useFakeTimers();
    let probes = 0;
    await until(() => ++probes > 3, 'four probes');
    expect(probes).toBe(4);
  });

  it('gives up after its bound, naming what it waited for', async () => {
    await expect(until(() => false, 'the impossible', 50)).rejects.toThrow(
      /^timed out after 50 ms waiting for the impossible$/,
    );
  });

  it('fails at once when the probe throws: an error is an answer, not "not yet"', async () => {
    let probes = 0;
    const failing = eventually(
      () => {
        probes++;
        throw new Error('store closed');
      },
      'rows',
      { timeoutMs: 60_000 },
    );
    await expect(failing).rejects.toThrow('store closed');
    expect(probes).toBe(1);
  });
});
