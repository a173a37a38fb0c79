/**
 * A console-like client for the session tests: logs in with a form POST (no API key), keeps the
 * cookies the server set, and sends them back with the `sessionkey` parameter, or without it, as
 * a page of another site would (its browser attaches the cookie, but the page cannot know the key).
 */
import { buildServer } from '../../src/api/server.ts';
import { SessionManager } from '../../src/manager/session-manager.ts';
import type { TestApp } from '../helpers/test-app.ts';

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly setCookies: readonly string[];
}

/** The payload under `<command>response`. */
export function payloadOf(answer: Answer, command: string): Record<string, unknown> {
  const body = answer.body[`${command.toLowerCase()}response`];
  if (typeof body !== 'object' || body === null)
    throw new Error(`no ${command}response: ${JSON.stringify(answer)}`);
  return body as Record<string, unknown>;
}

export async function send(
  url: string,
  params: Record<string, string>,
  opts: { method?: 'GET' | 'POST'; cookie?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const query = new URLSearchParams({ response: 'json', ...params }).toString();
  const headers: Record<string, string> = { connection: 'close', ...opts.headers };
  if (opts.cookie !== undefined) headers['cookie'] = opts.cookie;
  const res =
    (opts.method ?? 'POST') === 'POST'
      ? await fetch(`${url}/client/api`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: query,
        })
      : await fetch(`${url}/client/api?${query}`, { headers });
  const text = await res.text();
  return {
    status: res.status,
    body: JSON.parse(text) as Record<string, unknown>,
    setCookies: res.headers.getSetCookie(),
  };
}

/** The Cookie header a browser would send back: name=value of each Set-Cookie. */
export function cookieHeader(setCookies: readonly string[]): string {
  return setCookies.map((c) => c.split(';')[0]).join('; ');
}

export interface LoggedIn {
  readonly cookie: string;
  readonly sessionKey: string;
  readonly response: Record<string, unknown>;
  /** Calls a command in this session (cookie + sessionkey). */
  call(command: string, params?: Record<string, string>): Promise<Answer>;
}

export async function login(
  url: string,
  username: string,
  password: string,
  domain = '/',
): Promise<LoggedIn> {
  const answer = await send(url, { command: 'login', username, password, domain });
  if (answer.status !== 200)
    throw new Error(`login ${username} -> ${answer.status} ${JSON.stringify(answer.body)}`);
  const response = payloadOf(answer, 'login');
  const cookie = cookieHeader(answer.setCookies);
  const sessionKey = String(response['sessionkey']);
  return {
    cookie,
    sessionKey,
    response,
    call: (command, params = {}) => send(url, { command, sessionkey: sessionKey, ...params }, { cookie }),
  };
}

/** A server over a seeded app whose sessions and login limits run on a clock the test moves. */
export interface ClockedServer {
  readonly url: string;
  advance(ms: number): void;
  close(): Promise<void>;
}

/** A fresh server (new sessions manager: no failed-login counts) over `t`, its clock at now. */
export async function startClockedServer(t: TestApp): Promise<ClockedServer> {
  let now = Date.now();
  const services = { ...t.app.apiServices, sessions: new SessionManager(t.app.deps, () => now) };
  const server = await buildServer(services);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    advance(ms) {
      now += ms;
    },
    close: () => server.close(),
  };
}
