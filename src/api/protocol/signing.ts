/**
 * CloudStack API request signing, byte-for-byte as `ApiServer.verifyRequest` checks it:
 * every parameter except `signature`, names sorted case-sensitively, values encoded with Java's
 * `URLEncoder` (then `+` -> `%20`), `name=value` joined by `&`, the whole string lowercased,
 * HMAC-SHA1 with the secret key, standard Base64.
 *
 * Parameters here are already decoded (the HTTP layer undid the query/form encoding), exactly as
 * the servlet hands them to verifyRequest.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { formatCloudStackDate, parseCloudStackDate } from './dates.ts';
import type { Params } from './request-params.ts';

// encodeURIComponent leaves these unescaped but Java's URLEncoder escapes them.
const JAVA_ESCAPES_EXTRA = /[!'()~]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const percentByte = (ch: string): string =>
  `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * Java's `URLEncoder.encode(value, "UTF-8")`: alphanumerics and `.-*_` unchanged, space -> `+`,
 * every other character as `%XX` of its UTF-8 bytes (uppercase hex).
 */
export function javaUrlEncode(value: string): string {
  return encodeForSigning(value).replace(/%20/g, '+');
}

/**
 * The value encoding used in the signature base: `javaUrlEncode` with `+` replaced by `%20`, as
 * verifyRequest does. (A literal `+` is already `%2B`, so only spaces are affected.)
 */
export function encodeForSigning(value: string): string {
  // Java encodes a lone surrogate as `?` (the charset's replacement byte) where
  // encodeURIComponent would throw.
  const wellFormed = value.replace(LONE_SURROGATE, '?');
  return encodeURIComponent(wellFormed).replace(JAVA_ESCAPES_EXTRA, percentByte);
}

/**
 * How a client percent-encodes values before signing. CloudStack itself only accepts `java`; the
 * others are what widely used clients actually send (see `verifySignature`).
 * - `java`: URLEncoder, what CloudStack computes and what `signRequest` sends.
 * - `python`: the `cs` library and the Ansible modules, `quote(v, safe="*")`; since Python 3.7
 *   `quote` leaves `~` unescaped.
 * - `go`: cloudstack-go / cmk, `url.QueryEscape`; leaves `~` unescaped and escapes `*` as `%2A`.
 */
export type SigningDialect = 'java' | 'python' | 'go';

function encodeValue(value: string, dialect: SigningDialect): string {
  const java = encodeForSigning(value);
  switch (dialect) {
    case 'java':
      return java;
    case 'python':
      return java.replace(/%7E/g, '~');
    case 'go':
      return java.replace(/%7E/g, '~').replace(/\*/g, '%2A');
    default: {
      const unreachable: never = dialect;
      throw new Error(`unknown signing dialect ${String(unreachable)}`);
    }
  }
}

const isSignatureName = (name: string): boolean => name.toLowerCase() === 'signature';

/**
 * The string that gets signed. Names are sorted with the default (UTF-16 code unit) order, which is
 * what Java's `Collections.sort` on Strings does; `signature` is skipped case-insensitively
 * (verifyRequest uses equalsIgnoreCase).
 */
export function signatureBase(params: Params, dialect: SigningDialect = 'java'): string {
  const names = Object.keys(params)
    .filter((name) => !isSignatureName(name))
    .sort();
  return names
    .map((name) => `${name}=${encodeValue(params[name] ?? '', dialect)}`)
    .join('&')
    .toLowerCase();
}

function hmacBase64(base: string, secretKey: string): string {
  return createHmac('sha1', Buffer.from(secretKey, 'utf8')).update(base, 'utf8').digest('base64');
}

/** The Base64 HMAC-SHA1 signature of `params` (any `signature` parameter is ignored). */
export function sign(params: Params, secretKey: string): string {
  return hmacBase64(signatureBase(params), secretKey);
}

function constantTimeEquals(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The `signature` parameter, found case-insensitively; like verifyRequest, the last name in sort order wins. */
function findParam(params: Params, lowerName: string): string | undefined {
  let found: string | undefined;
  for (const name of Object.keys(params).sort()) {
    if (name.toLowerCase() === lowerName) found = params[name];
  }
  return found;
}

function dialectsToTry(params: Params): SigningDialect[] {
  const values = Object.values(params);
  const dialects: SigningDialect[] = ['java'];
  if (values.some((v) => v.includes('~'))) dialects.push('python');
  if (values.some((v) => v.includes('~') || v.includes('*'))) dialects.push('go');
  return dialects;
}

/**
 * True when `params.signature` is the signature of the other parameters under `secretKey`.
 *
 * Two tolerances beyond CloudStack's exact check, both safe because every candidate is still an
 * HMAC under the caller's secret over the very same decoded parameters (nothing can be forged
 * without the secret):
 * - A signature sent without URL-encoding has its `+` turned into a space by query decoding
 *   (Base64 never contains a space), so spaces are mapped back to `+` and tried again.
 * - Python (`cs`, Ansible) and Go (cmk) clients encode `~` and `*` differently from Java, so their
 *   signatures differ from CloudStack's exactly when a value contains one of those characters; the
 *   base in their encoding is tried too, so those clients work unmodified.
 */
export function verifySignature(params: Params, secretKey: string): boolean {
  const given = findParam(params, 'signature');
  if (given === undefined || given === '') return false;
  const candidates = given.includes(' ') ? [given, given.replace(/ /g, '+')] : [given];
  let ok = false;
  for (const dialect of dialectsToTry(params)) {
    const expected = hmacBase64(signatureBase(params, dialect), secretKey);
    // No early exit: the work done does not depend on which candidate matched.
    for (const candidate of candidates) ok = constantTimeEquals(candidate, expected) || ok;
  }
  return ok;
}

/** Result of the `signatureVersion=3` / `expires` check; the failure reasons are for logging. */
export type ExpiryCheck =
  | { ok: true; expires: Date | null }
  | {
      ok: false;
      reason: 'missing-expires' | 'malformed-expires' | 'expired' | 'too-far-ahead';
      detail: string;
    };

/** How far ahead `expires` may be when the caller does not say (the setting's default). */
export const DEFAULT_MAX_EXPIRES_AHEAD_MS = 3_600_000;

/**
 * verifyRequest's expiry rule, made strict. CloudStack checks `expires` only when
 * `signatureVersion` is exactly `3`, so a request signed with an `expires` but without that flag
 * (or with the flag smuggled out of sight) could be replayed forever; and it accepts any `expires`,
 * up to year 9999. Here:
 * - `signatureVersion=3` (any case) requires `expires`;
 * - an `expires` (any case) is checked whenever present: it must parse as
 *   `yyyy-MM-dd'T'HH:mm:ssZ`, must not be before `now`, and must not be more than `maxAheadMs`
 *   after `now`, so a captured URL is good for a bounded time at most.
 * Without either parameter there is no expiry (`{ok: true, expires: null}`), as in CloudStack.
 */
export function checkExpiry(
  params: Params,
  now: Date,
  maxAheadMs: number = DEFAULT_MAX_EXPIRES_AHEAD_MS,
): ExpiryCheck {
  const raw = findParam(params, 'expires');
  if (raw === undefined) {
    if (findParam(params, 'signatureversion') !== '3') return { ok: true, expires: null };
    return {
      ok: false,
      reason: 'missing-expires',
      detail: 'signatureVersion=3 requires an expires parameter',
    };
  }
  const expires = parseCloudStackDate(raw);
  if (expires === null) {
    return { ok: false, reason: 'malformed-expires', detail: `expires=${raw} is not yyyy-MM-dd'T'HH:mm:ssZ` };
  }
  if (expires.getTime() < now.getTime()) {
    return { ok: false, reason: 'expired', detail: `request expired at ${raw}` };
  }
  if (expires.getTime() - now.getTime() > maxAheadMs) {
    return {
      ok: false,
      reason: 'too-far-ahead',
      detail: `expires=${raw} is more than ${Math.round(maxAheadMs / 1000)} s ahead`,
    };
  }
  return { ok: true, expires };
}

export interface SignRequestOptions {
  /** Adds `signatureVersion=3` and this `expires`, so the request cannot be replayed after it. */
  expires?: Date;
}

/**
 * Client side: the complete query string for `params`, with `apikey` added (replacing any other
 * spelling of it) and `signature` appended. Names and values are encoded with `encodeForSigning`,
 * which any form/query decoder reads back unchanged (`%20`, never an ambiguous `+`).
 */
export function signRequest(
  params: Params,
  apiKey: string,
  secretKey: string,
  options: SignRequestOptions = {},
): string {
  const replaced = new Set([
    'signature',
    'apikey',
    ...(options.expires ? ['signatureversion', 'expires'] : []),
  ]);
  // Null prototype: a parameter named `__proto__` must stay an ordinary entry.
  const all = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(params)) {
    if (!replaced.has(name.toLowerCase())) all[name] = value;
  }
  all.apikey = apiKey;
  if (options.expires) {
    all.signatureVersion = '3';
    all.expires = formatCloudStackDate(options.expires.getTime());
  }
  const query = Object.entries(all).map(
    ([name, value]) => `${encodeForSigning(name)}=${encodeForSigning(value)}`,
  );
  query.push(`signature=${encodeForSigning(sign(all, secretKey))}`);
  return query.join('&');
}
