/**
 * A fake host agent on 127.0.0.1, over HTTP or HTTPS: it answers Ping and GetInventory from a
 * mutable inventory, fails every other command, and records every request it receives (method,
 * path, headers, parsed command). Tests that need a hostile agent replace `respond`.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { InventoryPool, InventoryVm } from '../../src/core/plugin-api.ts';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The command's kind, for POST /v1/command. */
  readonly kind: string | undefined;
}

export interface FakeAgent {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  readonly inventory: { vms: InventoryVm[]; pools: InventoryPool[] };
  /** Replaces the answer to every request (after it was recorded). */
  respond: (req: IncomingMessage, res: ServerResponse, kind: string | undefined) => void;
  /** Commands received, by kind. */
  kinds(): string[];
  close(): Promise<void>;
}

export interface FakeAgentOptions {
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Listen on this port (0: any free one). */
  readonly port?: number;
}

/** A VM as an agent reports it in GetInventory (one ROOT disk). */
export function reportedVm(
  name: string,
  powerState: 'PowerOn' | 'PowerOff',
  uuid: string = randomUUID(),
): InventoryVm {
  return {
    name,
    uuid,
    memoryMb: 256,
    cpus: 1,
    powerState,
    volumes: [
      {
        id: randomUUID(),
        type: 'ROOT',
        path: `/var/lib/vmsnap/pool/${name}-root.qcow2`,
        poolId: 'pool',
        format: 'QCOW2',
        size: 1024 ** 3,
        deviceId: 0,
      },
    ],
  };
}

function defaultAnswer(agent: FakeAgent, kind: string | undefined): unknown {
  if (kind === 'Ping') return { result: true, hypervisor: 'KVM' };
  if (kind === 'GetInventory') return { result: true, ...agent.inventory };
  if (kind === 'GetVmStates')
    return {
      result: true,
      vms: agent.inventory.vms.map((v) => ({ name: v.name, powerState: v.powerState })),
    };
  return { result: false, details: `the fake agent does not do ${kind ?? 'that'}` };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

function kindOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown };
    return typeof parsed.kind === 'string' ? parsed.kind : undefined;
  } catch {
    return undefined;
  }
}

export async function startFakeAgent(opts: FakeAgentOptions = {}): Promise<FakeAgent> {
  const agent: FakeAgent = {
    url: '',
    port: 0,
    requests: [],
    inventory: { vms: [], pools: [] },
    respond: (_req, res, kind) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(defaultAnswer(agent, kind)));
    },
    kinds: () => agent.requests.flatMap((r) => (r.kind === undefined ? [] : [r.kind])),
    close: async () => undefined,
  };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const kind = kindOf(await readBody(req));
    agent.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, kind });
    agent.respond(req, res, kind);
  };
  const server =
    opts.tls !== undefined
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => void handler(req, res))
      : http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(agent, {
    url: `${opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
