/**
 * The request options `memoryMode` and `quiescePolicy` have one parser; the API's enum parameters
 * and the store's JSON both go through it, so strategies only ever see the typed values.
 */
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.ts';
import { parseOneOf, parseSnapshotOptions } from '../../src/core/snapshot-options.ts';

describe('snapshot options', () => {
  it('parses the stored options into the typed ones', () => {
    expect(parseSnapshotOptions({})).toEqual({});
    expect(parseSnapshotOptions({ memoryMode: 'internal', quiescePolicy: 'best-effort' })).toEqual({
      memoryMode: 'internal',
      quiescePolicy: 'best-effort',
    });
  });

  it.each([
    [{ memoryMode: 'sideways' }, 'Invalid memoryMode sideways: use live or internal'],
    [{ quiescePolicy: 'sometimes' }, 'Invalid quiescePolicy sometimes: use required or best-effort'],
    [{ quiescePolicy: 3 }, 'Invalid quiescePolicy: not a string'],
    [{ colour: 'blue' }, 'Unknown snapshot option colour'],
  ])('refuses %j as a parameter error', (raw, message) => {
    expect(() => parseSnapshotOptions(raw)).toThrow(InvalidParameterError);
    expect(() => parseSnapshotOptions(raw)).toThrow(message);
  });

  it('names what it parsed in the error', () => {
    expect(() => parseOneOf(['a', 'b'], 'c', 'setting x.y')).toThrow('Invalid setting x.y c: use a or b');
    expect(parseOneOf(['a', 'b'], 'b', 'x')).toBe('b');
  });
});
