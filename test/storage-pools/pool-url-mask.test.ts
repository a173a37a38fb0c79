/**
 * Issue 11, item 1: a pool URL can carry a cephx key. Responses show it masked and provider errors
 * are scrubbed of it (src/core/pool-url-mask.ts); file pool URLs are checked for their form
 * (src/storage-drivers/file/file-pool-url.ts). None of this existed before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskPoolUrl, scrubSecrets } from '../../src/core/pool-url-mask.ts';
import { filePoolPath } from '../../src/storage-drivers/file/file-pool-url.ts';

/** Keys as cephx prints them (base64), URL-encoded in the pool URL as CloudStack expects. */
const cephxKey = fc
  .uint8Array({ minLength: 16, maxLength: 40 })
  .map((bytes) => Buffer.from(bytes).toString('base64'));

describe('maskPoolUrl', () => {
  it('masks the key of CloudStack RBD URLs, monitors and pool kept', () => {
    expect(maskPoolUrl('rbd://admin:AQB%2Bx%3D%3D@mon1:6789,mon2:6789/rbd')).toBe(
      'rbd://admin:*****@mon1:6789,mon2:6789/rbd',
    );
    expect(maskPoolUrl('file:///var/lib/vmsnap/pool')).toBe('file:///var/lib/vmsnap/pool');
    expect(maskPoolUrl('rbd://mon1/rbd')).toBe('rbd://mon1/rbd');
  });

  it('never leaves the key in the masked URL, encoded or not, even when it holds / + =', () => {
    fc.assert(
      fc.property(cephxKey, fc.boolean(), (key, encode) => {
        const written = encode ? encodeURIComponent(key) : key;
        const masked = maskPoolUrl(`rbd://admin:${written}@10.0.0.1:6789,10.0.0.2/pool`);
        expect(masked).toBe('rbd://admin:*****@10.0.0.1:6789,10.0.0.2/pool');
      }),
    );
  });
});

describe('scrubSecrets', () => {
  it('removes the key (raw and URL-encoded), the full URL and secret details from a message', () => {
    fc.assert(
      fc.property(cephxKey, fc.string({ maxLength: 30 }), (key, noise) => {
        const url = `rbd://admin:${encodeURIComponent(key)}@mon1/pool`;
        const pool = { url, details: { secretkey: `${key}x`, user: 'admin' } };
        const message = `${noise} ${url} ${key} ${encodeURIComponent(key)} ${key}x ${noise}`;
        const scrubbed = scrubSecrets(message, pool);
        expect(scrubbed).not.toContain(key);
        expect(scrubbed).not.toContain(encodeURIComponent(key));
        expect(scrubbed).toContain('rbd://admin:*****@mon1/pool');
      }),
    );
  });

  it('leaves messages without secrets alone, and does not scrub plain detail values', () => {
    const pool = { url: 'rbd://admin:c2VjcmV0@mon1/pool', details: { user: 'admin' } };
    expect(scrubSecrets('pool tank does not exist for admin', pool)).toBe(
      'pool tank does not exist for admin',
    );
  });
});

describe('filePoolPath', () => {
  it('reads the folder of file:/// URLs', () => {
    expect(filePoolPath('file:///var/lib/vmsnap/pool')).toBe('/var/lib/vmsnap/pool');
    expect(filePoolPath('file:///var/lib/vmsnap/pool/')).toBe('/var/lib/vmsnap/pool');
    expect(filePoolPath('file://localhost/srv/a%20b')).toBe('/srv/a b');
  });

  it('refuses other forms with a message saying what a file URL looks like', () => {
    for (const url of [
      '/var/lib/pool',
      'nfs://srv/x',
      'file://server/x',
      'file:///',
      'file:///a?x=1',
      'file:///a/%2E%2E/b',
    ])
      expect(() => filePoolPath(url), url).toThrow(/url of a file pool/);
  });
});
