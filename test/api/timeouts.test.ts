/**
 * Issue 9, item 5: slow clients must not hold API connections for ever. Each test builds the server
 * with tiny limits and waits for the connection's 'close' event (bounded by the test timeout): on
 * the old server, whose request timeout was 0 and whose connections were uncapped, none of these
 * connections was ever closed.
 */
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, DEFAULT_SERVER_LIMITS, type ServerLimits } from '../../src/api/server.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

interface Client {
  readonly socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>;
}

function open(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    // A reset by the server is a close too.
    socket.on('error', () => {});
    const closed = new Promise<string>((done) => socket.on('close', () => done(received)));
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Writes `piece` every few ms, at most `count` times, until the socket closes. */
function trickle(socket: Socket, piece: string, count: number): () => void {
  let left = count;
  const timer = setInterval(() => {
    if (left-- <= 0 || socket.destroyed) clearInterval(timer);
    else socket.write(piece);
  }, 10);
  return () => clearInterval(timer);
}

describe('API server timeouts and connection cap', () => {
  let t: TestApp;
  let server: FastifyInstance | undefined;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await openTestApp();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });
  afterAll(async () => {
    await t.close();
  });

  async function start(limits: Partial<ServerLimits>): Promise<number> {
    server = await buildServer(t.app, {
      limits: { connectionTimeoutMs: 60_000, timeoutCheckIntervalMs: 20, ...limits },
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const address = server.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  async function client(port: number): Promise<Client> {
    const c = await open(port);
    sockets.push(c.socket);
    return c;
  }

  it('applies bounded defaults', async () => {
    await start({});
    const http = server!.server;
    expect(http.requestTimeout).toBe(DEFAULT_SERVER_LIMITS.requestTimeoutMs);
    expect(http.headersTimeout).toBe(DEFAULT_SERVER_LIMITS.headersTimeoutMs);
    expect(http.keepAliveTimeout).toBe(DEFAULT_SERVER_LIMITS.keepAliveTimeoutMs);
    expect(http.maxConnections).toBe(DEFAULT_SERVER_LIMITS.maxConnections);
    for (const ms of [http.requestTimeout, http.headersTimeout, http.keepAliveTimeout]) {
      expect(ms).toBeGreaterThan(0);
    }
  });

  it('closes a connection whose body trickles in slower than the request timeout', async () => {
    const port = await start({ requestTimeoutMs: 200, headersTimeoutMs: 200 });
    const c = await client(port);
    c.socket.write(
      'POST /client/api HTTP/1.1\r\nHost: localhost\r\n' +
        'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ncommand=',
    );
    // Bytes keep flowing, so only the whole-request deadline can end this.
    const stop = trickle(c.socket, 'a', 5_000);
    const answer = await c.closed;
    stop();
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a connection whose headers trickle in slower than the header timeout', async () => {
    const port = await start({ requestTimeoutMs: 60_000, headersTimeoutMs: 200 });
    const c = await client(port);
    c.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n');
    const stop = trickle(c.socket, 'X-Slow: a\r\n', 5_000);
    const answer = await c.closed;
    stop();
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const port = await start({ keepAliveTimeoutMs: 100 });
    const c = await client(port);
    c.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    const answer = await c.closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('"status":"ok"');
  });

  it('refuses connections beyond the cap and keeps the ones it has', async () => {
    const port = await start({ maxConnections: 2, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const http = server!.server;
    let accepted = 0;
    const bothAccepted = new Promise<void>((resolve) =>
      http.on('connection', () => {
        if (++accepted === 2) resolve();
      }),
    );
    const first = await client(port);
    const second = await client(port);
    await bothAccepted;
    const third = await client(port);
    expect(await third.closed).toBe('');
    expect(first.socket.destroyed).toBe(false);
    expect(second.socket.destroyed).toBe(false);
    // The ones it kept are served.
    first.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(await first.closed).toMatch(/^HTTP\/1\.1 200/);
  });
});
