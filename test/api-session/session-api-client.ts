/**
 * TestApiClient's interface over a console session instead of API keys: `call` sends a form POST
 * without a signature, with the session's cookie and `sessionkey` once logged in. Lets tests that
 * iterate over every command (response shapes) run login and logout as a browser would.
 */
import { TestApiClient, type ApiResponse } from '../helpers/api-client.ts';

export class SessionApiClient extends TestApiClient {
  private cookie: string | undefined;
  private sessionKey: string | undefined;

  constructor(endpoint: string) {
    super(endpoint, '', '');
  }

  /** A client logged in as `username` (throws when the login is refused). */
  static async loggedIn(endpoint: string, username: string, password: string): Promise<SessionApiClient> {
    const client = new SessionApiClient(endpoint);
    const res = await client.call('login', { username, password });
    if (res.status !== 200) throw new Error(`login ${username} -> ${res.status} ${res.text}`);
    return client;
  }

  override async call(
    command: string,
    params: Record<string, string | number | boolean> = {},
  ): Promise<ApiResponse> {
    const all = new URLSearchParams({ command, response: 'json' });
    for (const [k, v] of Object.entries(params)) all.set(k, String(v));
    if (this.sessionKey !== undefined) all.set('sessionkey', this.sessionKey);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.cookie !== undefined) headers['cookie'] = this.cookie;
    const res = await fetch(`${this.endpoint}/client/api`, { method: 'POST', headers, body: all.toString() });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    const json = contentType.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (command === 'login' && res.status === 200) {
      this.cookie = res.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      this.sessionKey = String((json['loginresponse'] as Record<string, unknown>)['sessionkey']);
    }
    return { status: res.status, contentType, text, json };
  }
}
