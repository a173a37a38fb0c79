/**
 * One HTTP request on its own fresh connection (node:http with `agent: false`), for the test clients.
 *
 * Why not fetch: fetch pools keep-alive sockets, and on a starved machine a pooled socket can sit idle
 * past the server's keep-alive timeout (5 s) while the test's event loop is busy; the client then
 * reuses it just as the server closes it, and the request dies with ECONNRESET before the server
 * reads it (nodejs/node#54293: a race of keep-alive, not an answer of the server). fetch ignores a
 * `connection: close` header, so that is no cure. A new connection per call takes the race out.
 */
import { request, type IncomingHttpHeaders } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

export function httpCall(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        headers: { ...opts.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
