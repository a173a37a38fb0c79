/**
 * Issue 9, item 5 (agent side): slow clients cannot hold the agent's connections. Every test waits
 * for the server to close (or answer) the connection: no test asserts how long that took.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import type { AgentServerLimits } from '../../src/hypervisors/qemu/agent-server-limits.ts';
import { until } from '../helpers/eventually.ts';
import { createSnap, vmSpec } from './agent-fixtures.ts';
import { qemuAvailable, scratchDir } from './helpers.ts';

const TOKEN = 'limits-test-token-0123456789';

interface Trickle {
  readonly socket: net.Socket;
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>;
}

/** Sends `head`, then one byte of `drip` every 20 ms (at most 3000) until the server closes. */
function trickle(port: number, head: string, drip = 'a'): Trickle {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  let sent = 0;
  const timer = setInterval(() => {
    if (sent++ < 3000 && socket.writable) socket.write(drip);
  }, 20);
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  socket.write(head);
  const closed = new Promise<string>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    }),
  );
  return { socket, closed };
}

/** Resolves once `socket` is connected and the server counts `expected` connections. */
async function serverHolds(server: RunningAgentServer, expected: number): Promise<void> {
  await until(
    async () =>
      (await new Promise<number>((resolve, reject) =>
        server.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
      )) >= expected,
    `the server to hold ${expected} connections`,
    { everyMs: 10 },
  );
}

describe('the agent server closes slow and excess connections', () => {
  const scratch = scratchDir('limits');
  let server: RunningAgentServer | undefined;
  let sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets = [];
    await server?.close();
    server = undefined;
  });

  async function start(limits: Partial<AgentServerLimits>, afterStep?: () => Promise<void>) {
    const dir = path.join(scratch.dir, String(Math.random()).slice(2));
    server = await startAgentServer({
      port: 0,
      token: TOKEN,
      stateDir: path.join(dir, 'state'),
      poolDir: path.join(dir, 'pool'),
      accel: 'tcg',
      limits: { checkIntervalMs: 50, ...limits },
      ...(afterStep ? { afterStep } : {}),
    });
    return Number(new URL(server.url).port);
  }

  it('a client trickling its headers is answered 408 and closed', async () => {
    const port = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const slow = trickle(port, 'POST /v1/command HTTP/1.1\r\nHost: agent\r\nX-Slow: ');
    sockets.push(slow.socket);
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a client with the token trickling its body is answered 408 and closed', async () => {
    const port = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const slow = trickle(
      port,
      'POST /v1/command HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${TOKEN}\r\nContent-Length: 100000\r\n\r\n{"kind":"Ping","pad":"`,
    );
    sockets.push(slow.socket);
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a client without the token is answered 401 before its body is read', async () => {
    const port = await start({});
    const slow = trickle(
      port,
      'POST /v1/command HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100000\r\n\r\n{"kind":"Ping",',
    );
    sockets.push(slow.socket);
    const answered = await new Promise<string>((resolve) => {
      let seen = '';
      slow.socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('\r\n\r\n')) resolve(seen);
      });
    });
    expect(answered).toMatch(/^HTTP\/1\.1 401/);
  });

  it('connections past the cap are dropped while the others stay', async () => {
    const port = await start({ maxConnections: 2, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const first = trickle(port, 'GET /v1/health HTTP/1.1\r\nX-Slow: ');
    const second = trickle(port, 'GET /v1/health HTTP/1.1\r\nX-Slow: ');
    sockets.push(first.socket, second.socket);
    await serverHolds(server!, 2);
    let othersClosed = false;
    void Promise.race([first.closed, second.closed]).then(() => (othersClosed = true));
    const third = trickle(port, 'GET /v1/health HTTP/1.1\r\nX-Slow: ');
    sockets.push(third.socket);
    expect(await third.closed).toBe('');
    expect(othersClosed).toBe(false);
  });

  it.skipIf(!qemuAvailable)('a command running past the idle deadline still gets its answer', async () => {
    // The idle deadline is paused while a command runs: an idle client (which the same deadline
    // closes) is the clock. The snapshot is held at its first step until that client is gone.
    let idleClosed: Promise<string> = Promise.resolve('');
    let holding = false;
    const port = await start(
      { idleTimeoutMs: 200, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 },
      async () => {
        if (holding) return;
        holding = true;
        const idle = net.connect(port, '127.0.0.1');
        idle.on('error', () => undefined);
        sockets.push(idle);
        idleClosed = new Promise((resolve) => idle.on('close', () => resolve('closed')));
        await idleClosed;
      },
    );
    const vm = vmSpec('idle1', 1);
    const post = (body: unknown) =>
      fetch(`${server!.url}/v1/command`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ result: boolean }>);
    expect(await post({ kind: 'CreateVM', vm })).toMatchObject({ result: true });
    expect(await post(createSnap(vm, 's1'))).toMatchObject({ result: true });
    expect(await idleClosed).toBe('closed');
  });
});
