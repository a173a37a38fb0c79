import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerApiError } from '../../src/core/errors.ts';
import {
  formDecode,
  mergeParams,
  parseFormBody,
  parseQueryString,
  rejectControlCharacters,
  rejectUnsafeParamNames,
  responseFormatOf,
  signatureBase,
} from '../../src/api/protocol/index.ts';

describe('formDecode (Java URLDecoder)', () => {
  it('turns + into a space and %XX runs into UTF-8 text', () => {
    expect(formDecode('a+b%20c%2B')).toBe('a b c+');
    expect(formDecode('Z%C3%BCrich+%E6%97%A5%E6%9C%AC')).toBe('Zürich 日本');
  });

  it('replaces invalid UTF-8 with U+FFFD and keeps malformed escapes literally', () => {
    expect(formDecode('%C3')).toBe('\uFFFD');
    expect(formDecode('100%+sure%zz%4')).toBe('100% sure%zz%4');
  });
});

describe('parseQueryString', () => {
  it('decodes names and values, and accepts a leading ?', () => {
    expect(parseQueryString('?command=listZones&name=a+b&tags%5B0%5D.key=k')).toEqual({
      command: 'listZones',
      name: 'a b',
      'tags[0].key': 'k',
    });
  });

  it('keeps the LAST value of a repeated name, as ApiServlet.utf8Fixup does', () => {
    expect(parseQueryString('a=1&a=2&a=3').a).toBe('3');
  });

  it('gives a bare name the empty value, keeps = inside values, and skips empty pieces', () => {
    expect(parseQueryString('flag&&sig=ab==&=orphan')).toEqual({ flag: '', sig: 'ab==' });
  });

  it('treats __proto__ as an ordinary parameter', () => {
    const parsed = parseQueryString('__proto__=x&constructor=y');
    expect(Object.keys(parsed).sort()).toEqual(['__proto__', 'constructor']);
    expect(parsed.__proto__).toBe('x');
  });
});

describe('parseFormBody and mergeParams', () => {
  it('keeps the FIRST value of a repeated body name (servlet value[0])', () => {
    expect(parseFormBody('a=1&a=2').a).toBe('1');
  });

  it('lets the query string win over the body, and keeps names unique to either', () => {
    const merged = mergeParams(parseQueryString('command=a&q=1'), parseFormBody('command=b&b=2'));
    expect(merged).toEqual({ command: 'a', q: '1', b: '2' });
  });
});

describe('rejectControlCharacters', () => {
  it('refuses ASCII control characters with 431 but allows tab, LF and CR', () => {
    expect(() => rejectControlCharacters({ ok: 'a\tb\nc\r' })).not.toThrow();
    for (const bad of ['\u0000', '\u0007', '\u001b', '\u007f']) {
      try {
        rejectControlCharacters({ name: `x${bad}` });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ServerApiError);
        expect((err as ServerApiError).errorCode).toBe(431);
        expect((err as ServerApiError).message).toBe(
          'Received value containing illegal ASCII non-printable characters for parameter name',
        );
      }
    }
  });
});

describe('responseFormatOf', () => {
  it('is JSON only for response=json (any case); XML otherwise, as CloudStack defaults', () => {
    expect(responseFormatOf({ response: 'json' })).toBe('json');
    expect(responseFormatOf({ response: 'JSON' })).toBe('json');
    expect(responseFormatOf({ response: 'xml' })).toBe('xml');
    expect(responseFormatOf({ response: 'yaml' })).toBe('xml');
    expect(responseFormatOf({})).toBe('xml');
  });
});

describe('rejectUnsafeParamNames (issue 9: names that change the meaning of a signature)', () => {
  const code = (params: Record<string, string>): number | undefined => {
    try {
      rejectUnsafeParamNames(params);
      return undefined;
    } catch (err) {
      return err instanceof ServerApiError ? err.errorCode : -1;
    }
  };

  it("accepts every kind of name CloudStack's clients send", () => {
    const names = [
      'command',
      'apiKey',
      'signatureVersion',
      'tags[0].key',
      'details[0].cpuNumber',
      '_',
      'a-b',
    ];
    expect(code(Object.fromEntries(names.map((n) => [n, 'v'])))).toBeUndefined();
  });

  it('refuses the decoded name of the issue repro, and any name with = & or other characters', () => {
    expect(code({ 'response=json&signatureversion': '3' })).toBe(431);
    for (const bad of ['a=b', 'a&b', 'a b', 'ä', 'a%3D', 'a\u0000', '__proto__;', 'x/y']) {
      expect(code({ [bad]: '1' }), bad).toBe(431);
    }
  });

  it('refuses a name repeated in another case', () => {
    expect(code({ command: 'listZones', Command: 'deleteVMSnapshot' })).toBe(431);
    expect(code({ expires: 'a', EXPIRES: 'b' })).toBe(431);
  });

  it('every accepted request has a string-to-sign that reads back as exactly its parameters', () => {
    // The defence in one property: once names are safe and unique regardless of case, the signed
    // string splits back into the same lowercased name=value pairs, so no other set of
    // parameters can share its signature.
    const name = fc
      .stringMatching(/^[A-Za-z0-9_.[\]-]{1,12}$/)
      .filter((n) => n.toLowerCase() !== 'signature');
    fc.assert(
      fc.property(fc.dictionary(name, fc.string({ unit: 'grapheme' }), { maxKeys: 8 }), (params) => {
        if (code(params) !== undefined) return;
        const base = signatureBase(params);
        const pairs = base === '' ? [] : base.split('&').map((p) => p.slice(0, p.indexOf('=')));
        expect(pairs).toEqual(
          Object.keys(params)
            .sort()
            .map((n) => n.toLowerCase()),
        );
      }),
      { numRuns: 300 },
    );
  });
});
