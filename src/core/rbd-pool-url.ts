/**
 * A Ceph RBD pool as CloudStack names it: `rbd://<user>:<url-encoded cephx key>@<monitor
 * host:port>[,more monitors]/<pool>`. Every part ends up as an argument of the `rbd`/`ceph` CLIs, so
 * each is held to a narrow alphabet (nothing starting with `-` that a CLI would read as a flag). Errors
 * say which part is wrong and never repeat the url: it holds the key.
 *
 * In the core because the `ceph-rbd` storage driver and the QEMU host agent's protocol (which checks
 * the pool connection a volume carries) both parse it, and neither may import the other.
 */
export interface RbdMonitor {
  readonly host: string;
  readonly port: number;
}

export interface RbdPoolUrl {
  readonly monitors: readonly RbdMonitor[];
  /** cephx user without the `client.` prefix (`--id`). */
  readonly user: string;
  /** cephx key, base64. */
  readonly key: string;
  /** The Ceph pool that holds the images. */
  readonly pool: string;
}

/** Ceph user, pool, image and group names: a letter or digit first, then `[A-Za-z0-9._-]`. */
export const RBD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
/** A cephx key is 16 bytes of secret plus a header: 40 base64 characters; some slack allowed. */
const BASE64_KEY = /^[A-Za-z0-9+/]{16,256}={0,2}$/;
const MAX_MONITORS = 16;
/** Ceph's own default when a monitor has no port (msgr v1). */
const DEFAULT_MON_PORT = 6789;

export function isRbdName(name: string): boolean {
  return RBD_NAME.test(name) && !name.includes('..');
}

/** Parses a pool url; throws an Error saying which part is wrong (never quoting the url). */
export function parseRbdUrl(url: string): RbdPoolUrl {
  const bad = (why: string): Error => new Error(`the RBD pool url ${why}`);
  if (!url.startsWith('rbd://')) throw bad('must start with rbd://');
  const rest = url.slice('rbd://'.length);
  const at = rest.lastIndexOf('@');
  if (at < 0) throw bad('must name a user and key before @ (rbd://<user>:<key>@<monitors>/<pool>)');
  const credentials = rest.slice(0, at);
  const colon = credentials.indexOf(':');
  if (colon < 0) throw bad('must carry the cephx key as <user>:<url-encoded key>');
  const user = credentials.slice(0, colon);
  if (!isRbdName(user)) throw bad('has a user name that is not [A-Za-z0-9._-]');
  let key: string;
  try {
    key = decodeURIComponent(credentials.slice(colon + 1));
  } catch {
    throw bad('has a key that is not url-encoded');
  }
  if (!BASE64_KEY.test(key)) throw bad('has a key that is not a base64 cephx key');
  const slash = rest.indexOf('/', at);
  if (slash < 0) throw bad('must end with /<pool>');
  const pool = rest.slice(slash + 1).replace(/\/$/, '');
  if (!isRbdName(pool)) throw bad('has a pool name that is not [A-Za-z0-9._-]');
  return { monitors: parseMonitors(rest.slice(at + 1, slash), bad), user, key, pool };
}

function parseMonitors(list: string, bad: (why: string) => Error): RbdMonitor[] {
  const parts = list === '' ? [] : list.split(',');
  if (parts.length === 0 || parts.length > MAX_MONITORS) throw bad(`must name 1-${MAX_MONITORS} monitors`);
  return parts.map((part) => {
    const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(part);
    const host = m?.[1] ?? m?.[2];
    if (!m || host === undefined) throw bad('has a monitor that is not host:port');
    if (!(m[1] !== undefined ? IPV6.test(host) : HOSTNAME.test(host)))
      throw bad('has a monitor host that is not a host name or IP address');
    const port = m[3] === undefined ? DEFAULT_MON_PORT : Number(m[3]);
    if (port < 1 || port > 65535) throw bad('has a monitor port out of range');
    return { host, port };
  });
}

/** `--mon-host` for the CLIs: `host:port,…`, IPv6 hosts in brackets. */
export function monHostArg(monitors: readonly RbdMonitor[]): string {
  return monitors.map((m) => `${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}`).join(',');
}
