import { createHmac } from 'node:crypto';
import { parse as parseNodeQuery } from 'node:querystring';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkExpiry,
  encodeForSigning,
  javaUrlEncode,
  parseQueryString,
  sign,
  signatureBase,
  signRequest,
  verifySignature,
} from '../../src/api/protocol/index.ts';

const hmac = (base: string, secret: string): string =>
  createHmac('sha1', secret).update(base).digest('base64');

/**
 * An independent Java URLEncoder: walk code points, keep [A-Za-z0-9.*_-], space -> '+', else the
 * UTF-8 bytes as %XX. Lone surrogates become '?' (0x3F), Java's replacement byte.
 */
function referenceJavaEncode(value: string): string {
  let out = '';
  for (const ch of value) {
    if (/^[A-Za-z0-9.*_-]$/.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else {
      const cp = ch.codePointAt(0)!;
      const bytes = cp >= 0xd800 && cp <= 0xdfff ? Buffer.from([0x3f]) : Buffer.from(ch, 'utf8');
      for (const b of bytes) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

describe('javaUrlEncode', () => {
  it.each([
    ['abcXYZ019', 'abcXYZ019'],
    ['.-*_', '.-*_'],
    ['a b', 'a+b'],
    ['a+b', 'a%2Bb'],
    ['~', '%7E'],
    ["'", '%27'],
    ['!', '%21'],
    ['()', '%28%29'],
    ['/?&=#%', '%2F%3F%26%3D%23%25'],
    ['é', '%C3%A9'],
    ['日本', '%E6%97%A5%E6%9C%AC'],
    ['😀', '%F0%9F%98%80'],
    ['\uD800x', '%3Fx'],
    ['', ''],
  ])('encodes %j as Java does', (input, expected) => {
    expect(javaUrlEncode(input)).toBe(expected);
    expect(referenceJavaEncode(input)).toBe(expected);
  });

  it('encodeForSigning turns only spaces into %20 (a literal + stays %2B)', () => {
    expect(encodeForSigning('a b+c')).toBe('a%20b%2Bc');
  });

  it('matches an independent byte-wise implementation for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(javaUrlEncode(s)).toBe(referenceJavaEncode(s));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the documented listUsers example (Developer Guide, "How to sign an API call with Python")', () => {
  // The guide's keys and its published signature. (These are not the keys of the guide's
  // deployVirtualMachine URL example: there `miVr6X7u…` is the apiKey and `Lxx1DM40AjcXU…` is the
  // start of that request's *signature*, and its secret key is never shown.)
  const apiKey = 'plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg';
  const secretKey = 'VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ';
  const params = { command: 'listUsers', response: 'json', apikey: apiKey };

  it('builds the documented signature base string', () => {
    expect(signatureBase(params)).toBe(
      'apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edm-kaymmailqzzq1elzlyq_u38zcm0bewzgudp66mg&command=listusers&response=json',
    );
  });

  it('produces the documented signature TTpdDq/7j/J58XCRHomKoQXEQds=', () => {
    expect(sign(params, secretKey)).toBe('TTpdDq/7j/J58XCRHomKoQXEQds=');
    expect(hmac(signatureBase(params), secretKey)).toBe('TTpdDq/7j/J58XCRHomKoQXEQds=');
  });

  it('verifies the documented request and the URL the guide builds from it', () => {
    expect(verifySignature({ ...params, signature: 'TTpdDq/7j/J58XCRHomKoQXEQds=' }, secretKey)).toBe(true);
    const url = `apiKey=${apiKey}&command=listUsers&response=json&signature=TTpdDq%2F7j%2FJ58XCRHomKoQXEQds%3D`;
    expect(verifySignature(parseQueryString(url), secretKey)).toBe(true);
  });
});

describe('signatureBase', () => {
  it('sorts names case-sensitively as received and skips signature in any case', () => {
    const base = signatureBase({ b: '1', B: '2', a: '3', Signature: 'x', SIGNATURE: 'y', signature: 'z' });
    // 'B' (0x42) sorts before 'a' (0x61): Java's String order, not a case-folded one.
    expect(base).toBe('b=2&a=3&b=1');
  });

  it('encodes special characters and lowercases the whole string', () => {
    const base = signatureBase({
      name: 'My Snap+1*',
      description: "it's (really) ~fine!",
      zone: 'Zürich 日本',
      empty: '',
    });
    expect(base).toBe(
      'description=it%27s%20%28really%29%20%7efine%21&empty=&name=my%20snap%2b1*&zone=z%c3%bcrich%20%e6%97%a5%e6%9c%ac',
    );
  });
});

describe('verifySignature', () => {
  const secret = 'secret-key';
  const params = { command: 'createVMSnapshot', virtualmachineid: 'abc', name: 'a b+c~*', apikey: 'k' };
  const good = sign(params, secret);

  it('accepts the right signature and refuses a forged one', () => {
    expect(verifySignature({ ...params, signature: good }, secret)).toBe(true);
    expect(
      verifySignature({ ...params, signature: hmac(signatureBase(params), 'other-secret') }, secret),
    ).toBe(false);
    expect(verifySignature({ ...params, signature: good.slice(0, -2) }, secret)).toBe(false);
    expect(verifySignature({ ...params, signature: '' }, secret)).toBe(false);
    expect(verifySignature(params, secret)).toBe(false);
  });

  it('refuses a request whose parameters were changed after signing', () => {
    expect(verifySignature({ ...params, virtualmachineid: 'abd', signature: good }, secret)).toBe(false);
    expect(verifySignature({ ...params, extra: '1', signature: good }, secret)).toBe(false);
  });

  it("shares CloudStack's blind spot: the base is lowercased, so letter case in values is unsigned", () => {
    expect(verifySignature({ ...params, virtualmachineid: 'ABC', signature: good }, secret)).toBe(true);
  });

  it('accepts a signature whose unencoded + became a space in query decoding', () => {
    const p = { command: 'listZones', apikey: 'k', n: '7' };
    // Find a secret whose signature contains a '+', so the test exercises the tolerance.
    const withPlus = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']
      .map((s) => ({ s, sig: sign(p, s) }))
      .find(({ sig }) => sig.includes('+'));
    expect(withPlus).toBeDefined();
    const { s, sig } = withPlus!;
    const decoded = parseQueryString(`command=listZones&apikey=k&n=7&signature=${sig}`);
    expect(decoded.signature).toBe(sig.replace(/\+/g, ' '));
    expect(verifySignature(decoded, s)).toBe(true);
  });

  it('accepts Python cs/Ansible signatures, which leave ~ unescaped', () => {
    const p = { apikey: 'k', command: 'listVMSnapshot', keyword: 'a~b' };
    const pythonBase = 'apikey=k&command=listvmsnapshot&keyword=a~b';
    expect(signatureBase(p)).not.toBe(pythonBase);
    expect(verifySignature({ ...p, signature: hmac(pythonBase, secret) }, secret)).toBe(true);
    expect(verifySignature({ ...p, signature: hmac(pythonBase, 'wrong') }, secret)).toBe(false);
  });

  it('accepts Go (cmk) signatures, which escape * and leave ~ unescaped', () => {
    const p = { apikey: 'k', command: 'listVMSnapshot', keyword: '*snap~' };
    const goBase = 'apikey=k&command=listvmsnapshot&keyword=%2asnap~';
    expect(verifySignature({ ...p, signature: hmac(goBase, secret) }, secret)).toBe(true);
    // The dialect is only an encoding: the same signature does not cover other values.
    expect(verifySignature({ ...p, keyword: '*snap~x', signature: hmac(goBase, secret) }, secret)).toBe(
      false,
    );
  });
});

describe('checkExpiry', () => {
  const now = new Date('2024-01-02T06:44:43Z');

  it('checks expires whenever it is present, with or without signatureVersion=3', () => {
    // CloudStack (and vmsnap before issue 9) looked at expires only when signatureVersion was 3.
    expect(checkExpiry({ expires: '2000-01-01T00:00:00+0000' }, now)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    expect(checkExpiry({ signatureVersion: '2', expires: 'garbage' }, now)).toMatchObject({
      ok: false,
      reason: 'malformed-expires',
    });
    expect(checkExpiry({ Expires: '2024-01-02T06:45:00+0000' }, now)).toEqual({
      ok: true,
      expires: new Date('2024-01-02T06:45:00Z'),
    });
    expect(checkExpiry({ command: 'listZones' }, now)).toEqual({ ok: true, expires: null });
    expect(checkExpiry({ signatureVersion: '2' }, now)).toEqual({ ok: true, expires: null });
  });

  it('refuses an expires further ahead than the bound (default one hour), at the boundary exactly', () => {
    const at = (seconds: number): string =>
      new Date(now.getTime() + seconds * 1000).toISOString().slice(0, 19) + 'Z';
    expect(checkExpiry({ expires: at(3600) }, now).ok).toBe(true);
    expect(checkExpiry({ expires: at(3601) }, now)).toMatchObject({ ok: false, reason: 'too-far-ahead' });
    expect(checkExpiry({ signatureVersion: '3', expires: '9999-12-31T23:59:59+0000' }, now)).toMatchObject({
      ok: false,
      reason: 'too-far-ahead',
    });
    expect(checkExpiry({ expires: at(60) }, now, 30_000)).toMatchObject({
      ok: false,
      reason: 'too-far-ahead',
    });
    expect(checkExpiry({ expires: at(30) }, now, 30_000).ok).toBe(true);
  });

  it('accepts a future expires in every supported zone form, with either spelling of the name', () => {
    for (const expires of ['2024-01-02T06:45:00+0000', '2024-01-02T07:45:00+01:00', '2024-01-02T06:45:00Z']) {
      const result = checkExpiry({ signatureVersion: '3', expires }, now);
      expect(result).toEqual({ ok: true, expires: new Date('2024-01-02T06:45:00Z') });
    }
    expect(checkExpiry({ signatureversion: '3', expires: '2024-01-02T06:44:43+0000' }, now).ok).toBe(true);
  });

  it('refuses an expired request', () => {
    const result = checkExpiry({ signatureVersion: '3', expires: '2024-01-02T06:44:42+0000' }, now);
    expect(result).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses version 3 without expires, or with a malformed one', () => {
    expect(checkExpiry({ signatureVersion: '3' }, now)).toMatchObject({
      ok: false,
      reason: 'missing-expires',
    });
    for (const expires of [
      'tomorrow',
      '2024-13-01T00:00:00+0000',
      '2024-02-30T00:00:00+0000',
      '2024-01-02 06:45:00',
    ]) {
      expect(checkExpiry({ signatureVersion: '3', expires }, now)).toMatchObject({
        ok: false,
        reason: 'malformed-expires',
      });
    }
  });
});

describe('signRequest', () => {
  it('adds apikey, appends the URL-encoded signature, and verifies after query decoding', () => {
    const query = signRequest(
      { command: 'listZones', response: 'json', keyword: 'a b+c/=' },
      'KEY',
      'SECRET',
    );
    expect(query).toMatch(/&apikey=KEY&signature=[A-Za-z0-9%]+$/);
    expect(query).not.toMatch(/signature=.*[+/=]/);
    const parsed = parseQueryString(query);
    expect(parsed.keyword).toBe('a b+c/=');
    expect(verifySignature(parsed, 'SECRET')).toBe(true);
    expect(verifySignature(parsed, 'OTHER')).toBe(false);
  });

  it('replaces an existing apikey and signature rather than duplicating them', () => {
    const parsed = parseQueryString(
      signRequest({ command: 'x', apiKey: 'old', signature: 'bogus' }, 'new', 's'),
    );
    expect(Object.keys(parsed).sort()).toEqual(['apikey', 'command', 'signature']);
    expect(parsed.apikey).toBe('new');
    expect(verifySignature(parsed, 's')).toBe(true);
  });

  it('with expires, signs signatureVersion=3 and the formatted expiry', () => {
    const expires = new Date('2030-05-06T07:08:09Z');
    const parsed = parseQueryString(signRequest({ command: 'listZones' }, 'k', 's', { expires }));
    expect(parsed.signatureVersion).toBe('3');
    expect(parsed.expires).toBe('2030-05-06T07:08:09+0000');
    expect(verifySignature(parsed, 's')).toBe(true);
    expect(checkExpiry(parsed, new Date('2030-05-06T07:08:09Z')).ok).toBe(true);
    expect(checkExpiry(parsed, new Date('2030-05-06T07:08:10Z'))).toMatchObject({
      ok: false,
      reason: 'expired',
    });
  });

  it('round-trips any parameters through query decoding (ours and node:querystring)', () => {
    const reserved = new Set(['signature', 'apikey']);
    const text = fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'binary-ascii' }),
      fc.constantFrom(' ', '+', '*', '~', "'", '!', '(', ')', '%', '%20', '&=', 'é', '日本'),
    );
    const name = fc.string({ unit: 'grapheme', minLength: 1 }).filter((n) => !reserved.has(n.toLowerCase()));
    fc.assert(
      fc.property(
        fc.dictionary(name, text, { maxKeys: 8 }),
        fc.string({ minLength: 1 }),
        (params, secret) => {
          const query = signRequest(params, 'the-key', secret);
          const ours = parseQueryString(query);
          expect(verifySignature(ours, secret)).toBe(true);
          for (const [k, v] of Object.entries(params)) expect(ours[k]).toBe(v);
          const theirs = parseNodeQuery(query, '&', '=', { maxKeys: 0 }) as Record<string, string>;
          expect(verifySignature(theirs, secret)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
