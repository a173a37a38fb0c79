/** CloudStack's RBD pool url, parsed without Ceph: every part checked, the key never echoed. */
import { describe, expect, it } from 'vitest';
import { monHostArg, parseRbdUrl } from '../../src/core/rbd-pool-url.ts';
import { formatRef, parseRef } from '../../src/core/rbd-snapshot-ref.ts';

const KEY = 'AQCP4w5r3hYwJBAAA428ge3bBU75fKaI+nKP3A==';

describe('parseRbdUrl', () => {
  it('reads user, url-encoded key, several monitors and the pool', () => {
    const url = `rbd://cloudstack:${encodeURIComponent(KEY)}@10.0.0.1:6789,mon2,[::1]:3300/vms`;
    const parsed = parseRbdUrl(url);
    expect(parsed).toEqual({
      user: 'cloudstack',
      key: KEY,
      pool: 'vms',
      monitors: [
        { host: '10.0.0.1', port: 6789 },
        { host: 'mon2', port: 6789 },
        { host: '::1', port: 3300 },
      ],
    });
    expect(monHostArg(parsed.monitors)).toBe('10.0.0.1:6789,mon2:6789,[::1]:3300');
  });

  it.each([
    ['http://a:b@h/p', /must start with rbd:\/\//],
    ['rbd://h/p', /user and key before @/],
    [`rbd://admin@h/p`, /<user>:<url-encoded key>/],
    [`rbd://-admin:${encodeURIComponent(KEY)}@h/p`, /user name/],
    ['rbd://admin:not a key@h/p', /not a base64 cephx key/],
    [`rbd://admin:${encodeURIComponent(KEY)}@h`, /must end with \/<pool>/],
    [`rbd://admin:${encodeURIComponent(KEY)}@h/--pool`, /pool name/],
    [`rbd://admin:${encodeURIComponent(KEY)}@/p`, /1-16 monitors/],
    [`rbd://admin:${encodeURIComponent(KEY)}@h:99999/p`, /port out of range/],
    [`rbd://admin:${encodeURIComponent(KEY)}@-h/p`, /monitor host/],
  ])('refuses %s, saying which part is wrong and never echoing the key', (url, why) => {
    let message = '';
    try {
      parseRbdUrl(url);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(why);
    expect(message).not.toContain(KEY);
    expect(message).not.toContain(encodeURIComponent(KEY));
  });
});

describe('ceph-rbd snapshot refs', () => {
  it('round-trip group pieces and image snapshots, which cannot be confused', () => {
    const group = { kind: 'group', group: 'vmsnap-vm1', snap: 's1', image: 'vol-1' } as const;
    const image = { kind: 'image', image: 'vol-1', snap: 's1' } as const;
    expect(parseRef(formatRef(group))).toEqual(group);
    expect(parseRef(formatRef(image))).toEqual(image);
    expect(formatRef(group)).not.toBe(formatRef(image));
    expect(() => parseRef('a@b@c')).toThrow(/not a ceph-rbd snapshot reference/);
  });
});
