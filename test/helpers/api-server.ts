/**
 * A real API server for HTTP-level tests: a seeded TestApp behind fastify on an ephemeral port, with
 * signing clients for the seeded admin and demo users, and an unsigned `rawCall` for requests a
 * well-behaved client would never send (forged signatures, no apikey, hand-built bodies).
 */
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.ts';
import { TestApiClient, type ApiResponse } from './api-client.ts';
import { httpCall } from './http-call.ts';
import { openTestApp, type TestApp } from './test-app.ts';

export interface ApiHarness {
  readonly t: TestApp;
  readonly server: FastifyInstance;
  readonly url: string;
  readonly admin: TestApiClient;
  readonly demo: TestApiClient;
  close(): Promise<void>;
}

export async function startApiServer(): Promise<ApiHarness> {
  const t = await openTestApp();
  const server = await buildServer(t.app);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    t,
    server,
    url,
    admin: new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey),
    demo: new TestApiClient(url, t.seeded.demo.apiKey, t.seeded.demo.secretKey),
    async close() {
      await server.close();
      await t.close();
    },
  };
}

/** Sends an already-encoded query (and optional form body) as is: no signing, no encoding. */
export async function rawCall(
  url: string,
  query: string,
  opts: { method?: 'GET' | 'POST'; body?: string } = {},
): Promise<ApiResponse> {
  const target = `${url}/client/api${query === '' ? '' : `?${query}`}`;
  // One connection per call (see http-call.ts: a pooled keep-alive socket races the server's
  // keep-alive timeout on a starved machine).
  const res =
    opts.method === 'POST'
      ? await httpCall(target, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: opts.body ?? '',
        })
      : await httpCall(target);
  const text = res.text;
  const contentType = res.headers['content-type'] ?? '';
  return {
    status: res.status,
    contentType,
    text,
    json: contentType.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** The payload under `<command>response`, whatever the status. */
export function bodyOf(res: ApiResponse, command: string): Record<string, unknown> {
  const body = res.json[`${command.toLowerCase()}response`];
  if (typeof body !== 'object' || body === null) {
    throw new Error(`no ${command.toLowerCase()}response in ${res.status} ${res.text.slice(0, 300)}`);
  }
  return body as Record<string, unknown>;
}

/** Asserts a CloudStack error answer and returns its body: status == errorcode, with errortext. */
export function errorOf(
  res: ApiResponse,
  command: string,
  code: number,
): { errortext: string; body: Record<string, unknown> } {
  const body = bodyOf(res, command);
  if (res.status !== code || body['errorcode'] !== code || typeof body['errortext'] !== 'string') {
    throw new Error(`expected error ${code} from ${command}, got ${res.status} ${res.text.slice(0, 400)}`);
  }
  return { errortext: body['errortext'], body };
}

/** Names and ids of list items under `key` (empty when the list payload is `{}`). */
export function itemsOf(payload: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const items = payload[key];
  return Array.isArray(items) ? (items as Record<string, unknown>[]) : [];
}
