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

/** `response=json` (any case) selects JSON; anything else, or no `response`, is XML, as in CloudStack. */
export function responseFormatOf(params: Params): 'json' | 'xml' {
  return params.response?.toLowerCase() === 'json' ? 'json' : 'xml';
}
