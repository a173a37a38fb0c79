/**
 * # An RBD pool connection, as the host agent accepts it
 *
 * The url (`VolumeTO.pool.url`, CloudStack's form `rbd://<user>:<url-encoded cephx key>@<mon
 * host:port>[,…]/<pool>`) ends up in QEMU's `-blockdev` option string and in `rbd` CLI arguments.
 * It is parsed by the `ceph-rbd` driver's own parser (one parser for the url, wherever it is read),
 * which holds every part to a narrow alphabet: no comma QEMU would read as an option, no `=`, no
 * space, no leading `-` read as a flag. Refusals say which part is wrong, never repeat the url (it
 * holds a key).
 */
import { isRbdName, parseRbdUrl, type RbdPoolUrl } from '../../../core/rbd-pool-url.ts';

export type RbdConnection = RbdPoolUrl;

export { isRbdName };

export type RbdParse = { ok: true; value: RbdConnection } | { ok: false; why: string };

export function parseRbdPoolUrl(url: string): RbdParse {
  try {
    return { ok: true, value: parseRbdUrl(url) };
  } catch (error) {
    return { ok: false, why: error instanceof Error ? error.message : 'is not an RBD pool url' };
  }
}
