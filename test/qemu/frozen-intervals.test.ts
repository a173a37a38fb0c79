/**
 * Issue 15, item 3: an operation's freeze accounting counts every freeze (a flush cycle before the
 * cut as well as the window around it): the longest continuous frozen interval and the sum.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrozenIntervals } from '../../src/hypervisors/qemu/frozen-intervals.ts';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('FrozenIntervals', () => {
  it('a flush freeze before the window is counted: max is the longer one, total the sum', () => {
    const c = clock();
    const intervals = new FrozenIntervals(c.now);
    intervals.freezeSent(); // the flush cycle
    c.advance(60);
    intervals.thawEnded();
    c.advance(30); // thawed in between: not frozen
    intervals.freezeSent(); // the window around the cut
    c.advance(9);
    intervals.thawEnded();
    expect(intervals.summary()).toEqual({ maxMs: 60, totalMs: 69, count: 2 });
  });

  it('a freeze with no thaw answered yet still counts, up to now', () => {
    const c = clock();
    const intervals = new FrozenIntervals(c.now);
    intervals.freezeSent();
    c.advance(25);
    expect(intervals.isOpen).toBe(true);
    expect(intervals.summary()).toEqual({ maxMs: 25, totalMs: 25, count: 1 });
  });

  it('a second freeze while frozen is one continuous interval; a thaw without a freeze adds nothing', () => {
    const c = clock();
    const intervals = new FrozenIntervals(c.now);
    intervals.thawEnded();
    intervals.freezeSent();
    c.advance(5);
    intervals.freezeSent();
    c.advance(7);
    intervals.thawEnded();
    expect(intervals.summary()).toEqual({ maxMs: 12, totalMs: 12, count: 1 });
  });

  it('for any sequence of freeze/thaw cycles: max = the longest, total = the sum, count = the cycles', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ frozen: fc.nat(1000), gap: fc.nat(1000) }), { maxLength: 20 }),
        (cycles) => {
          const c = clock();
          const intervals = new FrozenIntervals(c.now);
          for (const { frozen, gap } of cycles) {
            intervals.freezeSent();
            c.advance(frozen);
            intervals.thawEnded();
            c.advance(gap);
          }
          const lengths = cycles.map((x) => x.frozen);
          expect(intervals.summary()).toEqual({
            maxMs: Math.max(0, ...lengths),
            totalMs: lengths.reduce((s, n) => s + n, 0),
            count: cycles.length,
          });
        },
      ),
    );
  });
});
