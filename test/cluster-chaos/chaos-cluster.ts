/**
 * The chaos test's management servers: `vmsnap serve` child processes on fixed ports sharing one
 * PostgreSQL database, one of which at a time can be SIGKILLed and started again on its port. A
 * server counts as up only once a new process printed its banner and answers /health with 200.
 *
 * Requests go to a random up server. A refused connection never reached a server, so it is tried on
 * another one; any other transport failure (reset, closed mid-answer) may or may not have reached
 * it: a read is retried, a write is reported as `unknown` and the caller decides.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { TestApiClient } from '../helpers/api-client.ts';
import {
  freePort,
  healthOf,
  killHard,
  startServer,
  stop,
  type ClusterSecrets,
  type RunningProcess,
} from '../cluster-e2e/cluster-processes.ts';

/** A bound on one request: only reached if a server hangs, which is itself a failure to report. */
const REQUEST_BOUND_MS = 60_000;
/** How many times a request is re-sent to another server before it is given up. */
const MAX_ATTEMPTS = 40;

export interface ServerSlot {
  readonly index: number;
  readonly port: number;
  readonly client: TestApiClient;
  process: RunningProcess | undefined;
  up: boolean;
}

export type CallOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly body: Record<string, unknown> }
  /** The request may have reached a server that died: whether it acted is not known. */
  | { readonly kind: 'unknown'; readonly reason: string };

export interface Restart {
  readonly slot: number;
  /** Epoch ms of the SIGKILL, and of the first 200 from the new process's /health. */
  readonly killedAt: number;
  readonly upAt: number;
}

export class ChaosCluster {
  readonly restarts: Restart[] = [];
  /** Requests re-sent because the chosen server refused the connection (it was down). */
  connectionRetries = 0;

  private constructor(
    readonly slots: readonly ServerSlot[],
    private readonly secrets: ClusterSecrets,
  ) {}

  static async start(count: number, secrets: ClusterSecrets): Promise<ChaosCluster> {
    const slots: ServerSlot[] = [];
    for (let index = 0; index < count; index += 1) {
      const port = await freePort();
      const client = new TestApiClient(`http://127.0.0.1:${port}`, secrets.apiKey, secrets.secretKey);
      slots.push({ index, port, client, process: undefined, up: false });
    }
    const cluster = new ChaosCluster(slots, secrets);
    await Promise.all(slots.map((s) => cluster.bringUp(s)));
    return cluster;
  }

  get allUp(): boolean {
    return this.slots.every((s) => s.up);
  }

  /** SIGKILL, then a new process on the same port; resolves once it answers /health. */
  async killAndRestart(slot: ServerSlot): Promise<Restart> {
    slot.up = false;
    const killedAt = Date.now();
    if (slot.process !== undefined) await killHard(slot.process);
    await this.bringUp(slot);
    const restart = { slot: slot.index, killedAt, upAt: Date.now() };
    this.restarts.push(restart);
    return restart;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.slots.map(async (s) => (s.process === undefined ? undefined : stop(s.process))));
  }

  /**
   * Sends one API call to a random up server. A refused connection is re-sent to another server;
   * another transport failure is re-sent for a read, `unknown` for a write.
   */
  async call(
    command: string,
    params: Record<string, string | number | boolean>,
    opts: { readonly write: boolean },
  ): Promise<CallOutcome> {
    let lastError = 'no attempt';
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const slot = await this.someUpServer();
      try {
        const res = await withBound(slot.client.call(command, params), REQUEST_BOUND_MS);
        const body = (res.json[`${command.toLowerCase()}response`] ?? {}) as Record<string, unknown>;
        return { kind: 'answer', status: res.status, body };
      } catch (err) {
        lastError = describeTransportError(err);
        if (!isRefused(err) && opts.write) return { kind: 'unknown', reason: lastError };
        this.connectionRetries += 1;
        // The server is (being) killed: let the restart loop notice before the next attempt.
        await delay(50);
      }
    }
    throw new Error(`${command}: no server answered after ${MAX_ATTEMPTS} attempts: ${lastError}`);
  }

  private async someUpServer(): Promise<ServerSlot> {
    // Bounded by the restart loop: a killed server is always started again, and one at a time.
    for (let tries = 0; tries < 10_000; tries += 1) {
      const up = this.slots.filter((s) => s.up);
      if (up.length > 0) return up[Math.floor(Math.random() * up.length)] as ServerSlot;
      await delay(20);
    }
    throw new Error('no management server up');
  }

  private async bringUp(slot: ServerSlot): Promise<void> {
    slot.process = await startServer(slot.port, this.secrets);
    for (let tries = 0; ; tries += 1) {
      const health = await healthOf(`http://127.0.0.1:${slot.port}`);
      if (health?.status === 200) break;
      if (tries > 600) throw new Error(`server on port ${slot.port} never reported healthy`);
      await delay(100);
    }
    slot.up = true;
  }
}

function isRefused(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as { code?: string } | undefined) : undefined;
  return cause?.code === 'ECONNREFUSED';
}

function describeTransportError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return `${err.message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`;
}

async function withBound<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}
