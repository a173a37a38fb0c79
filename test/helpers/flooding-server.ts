/**
 * A hostile "agent" on 127.0.0.1 that answers every request with an endless body (bounded here at
 * `limitBytes`), honouring backpressure, and notes whether its reader hung up before the end.
 */
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FloodingServer {
  readonly url: string;
  /** Bytes handed to the socket so far, over every response. */
  written(): number;
  /** Resolves with true once a response was closed by the client before all of it was sent. */
  readonly cutShort: Promise<boolean>;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(1024 * 1024, 'LEAKED-SECRET-');

export async function startFloodingServer(opts: {
  status: number;
  limitBytes: number;
  contentLength?: number;
}): Promise<FloodingServer> {
  let written = 0;
  let reportCut: (cut: boolean) => void = () => undefined;
  const cutShort = new Promise<boolean>((resolve) => (reportCut = resolve));

  async function flood(res: ServerResponse): Promise<void> {
    let closed = false;
    let wake: () => void = () => undefined;
    res.on('drain', () => wake());
    res.once('close', () => {
      closed = true;
      wake();
    });
    res.writeHead(opts.status, {
      'content-type': 'application/json',
      ...(opts.contentLength !== undefined ? { 'content-length': opts.contentLength } : {}),
    });
    for (let sent = 0; sent < opts.limitBytes && !closed; sent += CHUNK.length) {
      written += CHUNK.length;
      if (!res.write(CHUNK)) await new Promise<void>((resolve) => (wake = resolve));
    }
    reportCut(closed);
    // With a declared length, the body stays incomplete: a reader that waits for it waits forever.
    if (!closed && opts.contentLength === undefined) res.end();
  }

  const server = http.createServer((req, res) => {
    req.resume();
    void flood(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    written: () => written,
    cutShort,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
