/**
 * A pool URL may carry a key (`rbd://admin:<cephx key>@mon/pool`). Responses show it masked, as
 * CloudStack shows pool URLs without their secret, and error text from a provider is scrubbed of
 * the key before it reaches a caller or a log.
 */

export const MASK = '*****';

/** Keys of pool details whose values are secrets (scrubbed from messages). */
const SECRET_DETAIL = /key|secret|pass|token|credential/i;

/** The URL with its password (if any) replaced by {@link MASK}; text that is no URL, unchanged. */
export function maskPoolUrl(url: string): string {
  const at = url.indexOf('@');
  const scheme = url.indexOf('://');
  if (at < 0 || scheme < 0 || at < scheme) return url;
  const userInfo = url.slice(scheme + 3, at);
  const colon = userInfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, scheme + 3)}${userInfo.slice(0, colon)}:${MASK}${url.slice(at)}`;
}

/** Removes the URL's password (raw and decoded) and secret-looking detail values from `text`. */
export function scrubSecrets(
  text: string,
  pool: { readonly url: string; readonly details: Readonly<Record<string, string>> },
): string {
  const secrets = new Set<string>();
  const password = passwordOf(pool.url);
  if (password !== undefined && password !== '') {
    secrets.add(password);
    secrets.add(safeDecode(password));
  }
  for (const [key, value] of Object.entries(pool.details))
    if (SECRET_DETAIL.test(key) && value !== '') secrets.add(value);
  let out = text.split(pool.url).join(maskPoolUrl(pool.url));
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(MASK);
  return out;
}

function passwordOf(url: string): string | undefined {
  const masked = maskPoolUrl(url);
  if (masked === url) return undefined;
  const scheme = url.indexOf('://');
  const userInfo = url.slice(scheme + 3, url.indexOf('@'));
  return userInfo.slice(userInfo.indexOf(':') + 1);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
