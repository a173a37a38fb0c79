import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsErrorCode, InvalidParameterError, ServerApiError } from '../../src/core/errors.ts';
import { ParamReader, readMap, readTags } from '../../src/api/protocol/index.ts';

const UUID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

/** The thrown error, for asserting its exact code and text. */
function thrown(fn: () => unknown): ServerApiError | InvalidParameterError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ServerApiError || err instanceof InvalidParameterError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

const reader = (params: Record<string, string>): ParamReader => new ParamReader('createVMSnapshot', params);

describe('required parameters', () => {
  it('reports a missing parameter with CloudStack text, 431 and cserrorcode 9999', () => {
    const err = thrown(() => reader({}).requireUuid('virtualmachineid'));
    expect(err.errorCode).toBe(431);
    expect(err.csErrorCode).toBe(CsErrorCode.ServerApiException);
    expect(err.message).toBe(
      'Unable to execute API command createvmsnapshot due to missing parameter virtualmachineid',
    );
  });

  it('treats an empty UUID as missing', () => {
    expect(thrown(() => reader({ virtualmachineid: '' }).requireUuid('virtualmachineid')).message).toContain(
      'due to missing parameter virtualmachineid',
    );
  });
});

describe('names are case-insensitive, as ParamUnpackWorker lowercases them', () => {
  it('finds VirtualMachineId under virtualmachineid, preferring the exact lowercase spelling', () => {
    expect(reader({ VirtualMachineId: UUID }).requireUuid('virtualmachineid')).toBe(UUID);
    expect(reader({ NAME: 'upper', name: 'lower' }).string('name')).toBe('lower');
    expect(reader({ name: 'lower', NAME: 'upper' }).string('name')).toBe('lower');
  });
});

describe('uuid', () => {
  it('accepts a lowercase UUID and refuses anything else with the entity message', () => {
    expect(reader({ id: UUID }).uuid('id')).toBe(UUID);
    for (const bad of ['12', 'not-a-uuid', UUID.toUpperCase(), `${UUID}x`]) {
      const err = thrown(() => reader({ id: bad }).uuid('id'));
      expect(err.errorCode).toBe(431);
      expect(err.message).toBe(
        `Unable to execute API command createvmsnapshot due to invalid value. Invalid parameter id value=${bad} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
      );
    }
  });

  it('reads a comma-separated UUID list, skipping empty items', () => {
    expect(reader({ ids: `${UUID},,${UUID}` }).uuidList('ids')).toEqual([UUID, UUID]);
    expect(thrown(() => reader({ ids: `${UUID},x` }).uuidList('ids')).message).toContain('value=x due to');
  });
});

describe('boolean', () => {
  it('accepts true/false in any case, empty as absent', () => {
    expect(reader({ b: 'TRUE' }).boolean('b')).toBe(true);
    expect(reader({ b: 'False' }).boolean('b')).toBe(false);
    expect(reader({ b: '' }).boolean('b')).toBeUndefined();
    expect(reader({}).boolean('b')).toBeUndefined();
  });

  it('refuses anything else with 431 invalid value', () => {
    for (const bad of ['yes', '1', 'ture']) {
      const err = thrown(() => reader({ snapshotmemory: bad }).boolean('snapshotmemory'));
      expect(err.errorCode).toBe(431);
      expect(err.message).toBe(
        `Unable to execute API command createvmsnapshot due to invalid value ${bad} for parameter snapshotmemory`,
      );
    }
  });
});

describe('integer and long', () => {
  it('parses plain decimal integers, blank integer as absent', () => {
    expect(reader({ n: '42' }).integer('n')).toBe(42);
    expect(reader({ n: '-7' }).integer('n')).toBe(-7);
    expect(reader({ n: '007' }).integer('n')).toBe(7);
    expect(Object.is(reader({ n: '-0' }).integer('n'), 0)).toBe(true);
    expect(reader({ n: '-2147483648' }).integer('n')).toBe(-2147483648);
    expect(reader({ n: '2147483647' }).integer('n')).toBe(2147483647);
    expect(reader({ n: ' ' }).integer('n')).toBeUndefined();
    expect(reader({ n: '9007199254740991' }).long('n')).toBe(9007199254740991);
    expect(reader({ n: '-9007199254740991' }).long('n')).toBe(-9007199254740991);
  });

  // Everything JavaScript's Number() or parseInt() would have turned into some number, and Java's
  // leading '+': only ^-?[0-9]+$ within range is a number here.
  const notPlainIntegers = [
    '1.5',
    '5.0',
    'abc',
    '12abc',
    '1e3',
    '1e9',
    '0x10',
    '0b1',
    '0o7',
    '+42',
    ' 5',
    '5 ',
    '\t5',
    '5\n',
    '1_000',
    '1,000',
    'Infinity',
    '-',
    '--1',
    '٣', // an Arabic-Indic digit
    '2147483648',
    '-2147483649',
    '99999999999999999999',
  ];

  it('refuses anything but a plain in-range decimal integer with 431 invalid value', () => {
    for (const bad of notPlainIntegers) {
      const err = thrown(() => reader({ page: bad }).integer('page'));
      expect(err.errorCode, JSON.stringify(bad)).toBe(431);
      expect(err.message).toBe(
        `Unable to execute API command createvmsnapshot due to invalid value ${bad} for parameter page`,
      );
    }
  });

  it('refuses the same for long, and values past 2^53 that a double cannot hold exactly', () => {
    for (const bad of [...notPlainIntegers.filter((b) => !/^-?[0-9]+$/.test(b)), '', '9007199254740992']) {
      expect(thrown(() => reader({ max: bad }).long('max')).errorCode, JSON.stringify(bad)).toBe(431);
    }
    expect(thrown(() => reader({ n: '9007199254740993' }).long('n')).errorCode).toBe(431);
    expect(thrown(() => reader({ n: '99999999999999999999' }).long('n')).errorCode).toBe(431);
  });

  it('property: integer() accepts exactly the canonical decimal spellings of 32-bit integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: -2147483648, max: 2147483647 }), (n) => {
        expect(reader({ n: String(n) }).integer('n')).toBe(n);
      }),
    );
    const numberish = fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[-+ 0-9xeEbo._]{1,12}$/));
    fc.assert(
      fc.property(numberish, (text) => {
        const n = Number(text);
        const plain = /^-?[0-9]+$/.test(text) && n >= -2147483648 && n <= 2147483647;
        let read: number | undefined | 'refused';
        try {
          read = reader({ n: text }).integer('n');
        } catch {
          read = 'refused';
        }
        if (text.trim() === '') expect(read).toBeUndefined();
        else if (plain) expect(read).toBe(n === 0 ? 0 : n);
        else expect(read).toBe('refused');
      }),
    );
  });
});

describe('string', () => {
  it('returns the value, including empty, and refuses one over the maximum length', () => {
    expect(reader({ name: '' }).string('name')).toBe('');
    expect(reader({ name: 'x'.repeat(255) }).requireString('name')).toHaveLength(255);
    const err = thrown(() => reader({ description: 'x'.repeat(256) }).string('description'));
    expect(err.errorCode).toBe(431);
    expect(err.message).toBe(
      'Unable to execute API command createvmsnapshot due to invalid value. Value greater than max allowed length 255 for param: description',
    );
    expect(() => reader({ name: 'abcd' }).string('name', { maxLength: 3 })).toThrow(ServerApiError);
  });
});

describe('map parameters', () => {
  it('reads tags[i].key / tags[i].value ordered by index, even when sparse and unordered', () => {
    const params = {
      'tags[10].key': 'c',
      'tags[10].value': '3',
      'tags[0].value': '1',
      'tags[0].key': 'a',
      'tags[2].key': 'b',
      'tags[2].value': '2',
      command: 'listVMSnapshot',
    };
    expect(readMap(params, 'tags')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
      { key: 'c', value: '3' },
    ]);
    expect(readTags(params)).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
      { key: 'c', value: '3' },
    ]);
  });

  it('is generic over field names and case-insensitive on the map name', () => {
    const params = { 'Details[0].cpuNumber': '2', 'details[0].memory': '512', 'details[1].x': 'y' };
    expect(new ParamReader('x', params).map('details')).toEqual([
      { cpuNumber: '2', memory: '512' },
      { x: 'y' },
    ]);
    expect(readMap(params, 'tags')).toEqual([]);
  });

  it('refuses a tag without a value with InvalidParameterValueException (431/4350)', () => {
    const err = thrown(() => readTags({ 'tags[0].key': 'region' }));
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect(err.errorCode).toBe(431);
    expect(err.csErrorCode).toBe(4350);
    expect(err.message).toBe('No value is passed in for key region');
    expect(() => readTags({ 'tags[0].value': 'v' })).toThrow(InvalidParameterError);
  });

  it('keeps the later value of a repeated tag key', () => {
    const tags = readTags({
      'tags[0].key': 'k',
      'tags[0].value': '1',
      'tags[1].key': 'k',
      'tags[1].value': '2',
    });
    expect(tags).toEqual([{ key: 'k', value: '2' }]);
  });

  it('refuses malformed map keys with 430, as soon as the parameters are read', () => {
    for (const key of ['tags[0][1].key', 'tags[x].key', 'tags[0]', 'tags.a[0]', 'tags]0[.key']) {
      const err = thrown(() => new ParamReader('listVMSnapshot', { [key]: 'v' }));
      expect(err.errorCode).toBe(430);
      expect(err.message).toBe(
        `Unable to decode parameter ${key}; if specifying an object array, please use parameter[index].field=XXX, e.g. userGroupList[0].group=httpGroup`,
      );
    }
  });
});
