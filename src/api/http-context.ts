/**
 * What the API needs to know of the HTTP request besides its parameters: the method (login is
 * POST only), the session cookie, the client's address (failed-login limits) and whether it came
 * over TLS (the cookies' Secure flag). Handlers never see HTTP; dispatch and the session commands do.
 */
export interface HttpContext {
  readonly method: string;
  /** The JSESSIONID cookie, when the request carried one. */
  readonly sessionId: string | undefined;
  readonly clientAddress: string;
  readonly secure: boolean;
}

/** A request that did not come over HTTP (tests calling dispatch directly): no cookie, no POST. */
export const NO_HTTP: HttpContext = {
  method: 'GET',
  sessionId: undefined,
  clientAddress: 'unknown',
  secure: false,
};
