/**
 * A QMP client over a unix socket, with nothing but `node:net`.
 *
 * Protocol facts this relies on (seen on QEMU 7.2): QEMU greets first, the client must send
 * `qmp_capabilities` before anything else, replies carry the request `id`, events interleave freely and
 * carry QEMU's own µs timestamp. Snapshot jobs report errors only in `query-jobs`, never in the reply.
 */
import net from 'node:net';
import { hostNowMs } from './host-timing.ts';

export type JsonObject = { [key: string]: unknown };

export interface QmpEvent {
  readonly event: string;
  readonly data: JsonObject;
  /** QEMU's timestamp, ms since the epoch, µs resolution. */
  readonly qemuMs: number;
  /** Host clock when the event was read, ms since the epoch (sub-ms resolution). */
  readonly hostMs: number;
  /** Position in this client's event log, for "events since" waits. */
  readonly seq: number;
}

export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    readonly command: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
  }
}

export class QmpJobError extends Error {
  constructor(
    readonly jobId: string,
    readonly detail: string,
  ) {
    super(`QEMU job ${jobId} failed: ${detail}`);
    this.name = 'QmpJobError';
  }
}

export class QmpTimeoutError extends Error {
  override readonly name = 'QmpTimeoutError';
}

export interface QmpClientOptions {
  /** How long to keep retrying the connection (QEMU may not have created the socket yet). */
  readonly connectTimeoutMs?: number;
  /** Default per-command timeout. */
  readonly commandTimeoutMs?: number;
  /** Receives every message in and out, for wire logs. */
  readonly trace?: (direction: 'in' | 'out', message: JsonObject, hostMs: number) => void;
}

interface Pending {
  readonly command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

type EventListener = (event: QmpEvent) => void;

const EVENT_LOG_LIMIT = 2000;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class QmpClient {
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<EventListener>();
  private readonly eventLog: QmpEvent[] = [];
  private nextId = 1;
  private nextSeq = 0;
  private buffer = '';
  private closedError: Error | null = null;
  private greetingResolve: ((greeting: JsonObject) => void) | null = null;
  private readonly closeListeners = new Set<(error: Error) => void>();

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: QmpClientOptions,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error) =>
      this.fail(new Error(`QMP socket closed: ${error.message}`, { cause: error })),
    );
    socket.on('close', () => this.fail(new Error('QMP socket closed')));
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(path: string, options: QmpClientOptions = {}): Promise<QmpClient> {
    const socket = await connectWithRetry(path, options.connectTimeoutMs ?? 10_000);
    const client = new QmpClient(socket, options);
    const greeting = new Promise<JsonObject>((resolve) => (client.greetingResolve = resolve));
    await withTimeout(greeting, options.commandTimeoutMs ?? 10_000, 'QMP greeting');
    await client.execute('qmp_capabilities');
    return client;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Sends a command; resolves with `return`, rejects with {@link QmpError} on `error`. */
  execute(command: string, args?: JsonObject, timeoutMs?: number): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const message: JsonObject = args ? { execute: command, arguments: args, id } : { execute: command, id };
    return new Promise<unknown>((resolve, reject) => {
      const ms = timeoutMs ?? this.options.commandTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`QMP ${command} timed out after ${ms} ms`));
      }, ms);
      this.pending.set(id, { command, resolve, reject, timer });
      this.options.trace?.('out', message, hostNowMs());
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Current end of the event log: pass it as `sinceSeq` to wait only for later events. */
  mark(): number {
    return this.nextSeq;
  }

  /** Events recorded at or after `sinceSeq` (bounded log). */
  eventsSince(sinceSeq: number): QmpEvent[] {
    return this.eventLog.filter((e) => e.seq >= sinceSeq);
  }

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onClose(listener: (error: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Resolves with the first event matching `pred` (already logged since `sinceSeq`, or arriving later). */
  waitEvent(pred: (event: QmpEvent) => boolean, timeoutMs: number, sinceSeq?: number): Promise<QmpEvent> {
    if (sinceSeq !== undefined) {
      const seen = this.eventsSince(sinceSeq).find(pred);
      if (seen) return Promise.resolve(seen);
    }
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<QmpEvent>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        offEvent();
        offClose();
      };
      const timer = setTimeout(() => {
        done();
        reject(new QmpTimeoutError(`no matching QMP event within ${timeoutMs} ms`));
      }, timeoutMs);
      const offEvent = this.onEvent((event) => {
        if (!pred(event)) return;
        done();
        resolve(event);
      });
      const offClose = this.onClose((error) => {
        done();
        reject(error);
      });
    });
  }

  /**
   * Runs a job to its end: `start` issues the command (with `job-id`), then wait for `concluded`
   * (JOB_STATUS_CHANGE, with `query-jobs` polling as a fallback), read `.error` from `query-jobs`
   * (the only place QEMU reports it), and `job-dismiss`. `onReady` handles jobs that stop in `ready`
   * (an active block-commit needs `job-complete`).
   */
  async runJob(
    jobId: string,
    start: () => Promise<unknown>,
    options: { timeoutMs?: number; onReady?: () => Promise<void> } = {},
  ): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    await start();
    let readyHandled = false;
    for (;;) {
      // Events from the moment of the query on: a change racing the query wakes the wait at once.
      const before = this.mark();
      const job = await this.queryJob(jobId);
      const status = job ? job.status : 'null';
      if (status === 'ready' && options.onReady && !readyHandled) {
        readyHandled = true;
        await options.onReady();
      } else if (status === 'concluded' || status === 'null') {
        const error = job && typeof job.error === 'string' ? job.error : null;
        if (job) await this.execute('job-dismiss', { id: jobId }).catch(() => undefined);
        if (error !== null) throw new QmpJobError(jobId, error);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new QmpTimeoutError(`job ${jobId} did not conclude within ${timeoutMs} ms (status ${status})`);
      // Wake on the next status change of this job, or poll again after a short while.
      await this.waitEvent(
        (e) => e.event === 'JOB_STATUS_CHANGE' && e.data.id === jobId,
        Math.min(left, 250),
        before,
      ).catch((error: unknown) => {
        if (!(error instanceof QmpTimeoutError)) throw error;
      });
    }
  }

  async queryJob(jobId: string): Promise<{ status: string; error?: unknown } | undefined> {
    const jobs = await this.execute('query-jobs');
    if (!Array.isArray(jobs)) return undefined;
    for (const job of jobs as unknown[]) {
      if (isObject(job) && job.id === jobId && typeof job.status === 'string') {
        return { status: job.status, error: job.error };
      }
    }
    return undefined;
  }

  /** Closes the socket; pending calls reject. */
  close(): void {
    this.fail(new Error('QMP client closed'));
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return; // QEMU only sends JSON; a torn line can only come from a dying socket
    }
    if (!isObject(message)) return;
    const hostMs = hostNowMs();
    this.options.trace?.('in', message, hostMs);
    if ('QMP' in message) {
      this.greetingResolve?.(message);
      this.greetingResolve = null;
    } else if (typeof message.event === 'string') {
      this.recordEvent(message, hostMs);
    } else if (typeof message.id === 'number') {
      this.settle(message.id, message);
    }
  }

  private recordEvent(message: JsonObject, hostMs: number): void {
    const ts = isObject(message.timestamp) ? message.timestamp : {};
    const seconds = typeof ts.seconds === 'number' ? ts.seconds : 0;
    const micros = typeof ts.microseconds === 'number' ? ts.microseconds : 0;
    const event: QmpEvent = {
      event: String(message.event),
      data: isObject(message.data) ? message.data : {},
      qemuMs: seconds * 1000 + micros / 1000,
      hostMs,
      seq: this.nextSeq++,
    };
    this.eventLog.push(event);
    if (this.eventLog.length > EVENT_LOG_LIMIT) this.eventLog.shift();
    for (const listener of [...this.listeners]) listener(event);
  }

  private settle(id: number, message: JsonObject): void {
    const pending = this.pending.get(id);
    if (!pending) return; // answered after its timeout
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (isObject(message.error)) {
      pending.reject(new QmpError(String(message.error.class), String(message.error.desc), pending.command));
    } else {
      pending.resolve(message.return);
    }
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new Error(`QMP ${pending.command}: ${error.message}`));
    }
    for (const listener of [...this.closeListeners]) listener(error);
  }
}

async function connectWithRetry(path: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectOnce(path);
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new Error(`cannot connect to ${path}: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export function connectOnce(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QmpTimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
