/**
 * The cookies of a console session, as CloudStack's ApiServlet sets them at login: `JSESSIONID`
 * (the session's id) and `sessionkey` (the key the request must also carry as a parameter).
 *
 * Attributes, and why:
 * - HttpOnly: page scripts (an injected one included) cannot read either cookie; the console learns
 *   the session key from loginresponse and sends it as the `sessionkey` parameter.
 * - SameSite=Strict: only the API's own page (same site) sends them. Lax would still attach them to
 *   a top-level GET navigation from another site; the console never needs that, since it calls the
 *   API with fetch from its own origin.
 * - Path=/client: as CloudStack; the cookies go to the API only, not with every static asset of
 *   the console at `/`.
 * - Secure when the request came over TLS (directly or, by its X-Forwarded-Proto, through a
 *   proxy): a browser then never sends them in clear. Plain http on 127.0.0.1 keeps working.
 * - No Max-Age: the browser forgets them when it closes; the server ends the session anyway after
 *   `session.timeout` idle seconds.
 *
 * The `sessionkey` cookie is there because CloudMonkey (cmk) reads the key from it, not from the
 * body. It is never accepted in place of the parameter: a forged cross-site request would carry it
 * automatically, which is exactly what the parameter defends against.
 */
export const SESSION_COOKIE = 'JSESSIONID';
export const SESSION_KEY_COOKIE = 'sessionkey';

function attributes(secure: boolean): string {
  return `Path=/client; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Set-Cookie values opening a session. */
export function sessionCookies(sessionId: string, sessionKey: string, secure: boolean): string[] {
  return [
    `${SESSION_COOKIE}=${sessionId}; ${attributes(secure)}`,
    `${SESSION_KEY_COOKIE}=${sessionKey}; ${attributes(secure)}`,
  ];
}

/** Set-Cookie values that make the browser drop both cookies (logout). */
export function clearedSessionCookies(secure: boolean): string[] {
  return [SESSION_COOKIE, SESSION_KEY_COOKIE].map((name) => `${name}=; Max-Age=0; ${attributes(secure)}`);
}

/** The value of cookie `name` in a Cookie header; the first one when sent twice. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value === '' ? undefined : value;
  }
  return undefined;
}
