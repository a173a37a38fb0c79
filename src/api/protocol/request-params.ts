/**
 * Turning an HTTP request into CloudStack's flat `name -> value` parameter map, with the servlet's
 * precedence rules (ApiServlet.processRequestInContext):
 * 1. `req.getParameterMap()` holds query and form-body values, query first, and CloudStack reads
 *    `value[0]`; so within a form body the FIRST value of a repeated name wins.
 * 2. `utf8Fixup` then re-decodes every `name=value` pair of the raw query string and `put`s it into
 *    the map, overwriting: so the query string beats the body, and within the query string the LAST
 *    value of a repeated name wins.
 *
 * Maps are created with a null prototype so that a parameter named `__proto__` is an ordinary entry.
 */
import { ApiErrorCode, ServerApiError } from '../../core/errors.ts';

export type Params = Readonly<Record<string, string>>;

const emptyParams = (): Record<string, string> => Object.create(null) as Record<string, string>;

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * `application/x-www-form-urlencoded` decoding as Java's `URLDecoder.decode(s, "UTF-8")`: `+` is a
 * space, `%XX` runs are UTF-8 bytes (invalid sequences become U+FFFD). A malformed escape such as
 * `%zz` is kept literally where Java would throw, so a sloppy client gets a parameter error from
 * the command rather than a dropped request.
 */
export function formDecode(text: string): string {
  if (!text.includes('+') && !text.includes('%')) return text;
  return text
    .replace(/\+/g, ' ')
    .replace(PERCENT_RUN, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

type RepeatRule = 'first' | 'last';

function parsePairs(raw: string, repeated: RepeatRule): Record<string, string> {
  const out = emptyParams();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    if (name === '') continue;
    if (repeated === 'first' && Object.hasOwn(out, name)) continue;
    out[name] = eq < 0 ? '' : formDecode(pair.slice(eq + 1));
  }
  return out;
}

/**
 * Parses a raw query string (without the leading `?`). A repeated name keeps its LAST value, as
 * utf8Fixup does; a bare `name` without `=` has the empty value.
 */
export function parseQueryString(raw: string): Record<string, string> {
  return parsePairs(raw.startsWith('?') ? raw.slice(1) : raw, 'last');
}

/** Parses a form-encoded POST body. A repeated name keeps its FIRST value (servlet `value[0]`). */
export function parseFormBody(raw: string): Record<string, string> {
  return parsePairs(raw, 'first');
}

/**
 * The parameters of one request: body values, overridden by query-string values of the same name.
 * (The query wins because utf8Fixup re-applies the query string after the servlet merged both.)
 */
export function mergeParams(query: Params, body: Params): Record<string, string> {
  const merged = emptyParams();
  for (const [name, value] of Object.entries(body)) merged[name] = value;
  for (const [name, value] of Object.entries(query)) merged[name] = value;
  return merged;
}

// ApiServer.CONTROL_CHARACTERS: ASCII controls except TAB, LF and CR.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/**
 * ApiServer.checkCharacterInkParams: any value with an ASCII control character (other than tab,
 * LF, CR) is refused with 431 before the command runs. Also keeps such bytes out of XML responses.
 */
export function rejectControlCharacters(params: Params): void {
  for (const [name, value] of Object.entries(params)) {
    if (CONTROL_CHARACTERS.test(value)) {
      throw new ServerApiError(
        ApiErrorCode.PARAM_ERROR,
        `Received value containing illegal ASCII non-printable characters for parameter ${name}`,
      );
    }
  }
}

// Every name CloudStack defines, including map entries such as `tags[0].key`, fits this alphabet.
const SAFE_NAME = /^[A-Za-z0-9_.[\]-]+$/;

/**
 * Refuses, with 431 and before authentication, parameter names that could make two different
 * requests share one signature:
 * - names go into the string-to-sign unencoded, so a name holding `=` or `&` (e.g. the decoded
 *   `response%3Djson%26signatureversion`) can stand for several signed pairs; only
 *   `[A-Za-z0-9_.[\]-]` is accepted;
 * - the string-to-sign is lowercased while lookups are case-insensitive, so `command` and `Command`
 *   in one request sign alike but leave it open which one is obeyed; a name that repeats in another
 *   case is refused.
 * CloudStack clients never send either, so they are unaffected. 431 (not 401) because the request
 * is malformed whoever sends it, and saying so reveals nothing about any credential.
 */
export function rejectUnsafeParamNames(params: Params): void {
  const seen = new Map<string, string>();
  for (const name of Object.keys(params)) {
    if (!SAFE_NAME.test(name)) {
      throw new ServerApiError(
        ApiErrorCode.PARAM_ERROR,
        `Parameter name ${JSON.stringify(name.slice(0, 64))} has characters other than letters, digits and _ . [ ] -`,
      );
    }
    const lower = name.toLowerCase();
    const other = seen.get(lower);
    if (other !== undefined) {
      throw new ServerApiError(
        ApiErrorCode.PARAM_ERROR,
        `Parameter ${name} is given twice, also as ${other}; parameter names are case-insensitive`,
      );
    }
    seen.set(lower, name);
  }
}

/** `response=json` (any case) selects JSON; anything else, or no `response`, is XML, as in CloudStack. */
export function responseFormatOf(params: Params): 'json' | 'xml' {
  return params.response?.toLowerCase() === 'json' ? 'json' : 'xml';
}
