/**
 * A QEMU guest agent (qemu-ga) client over the VM's chardev unix socket.
 *
 * QGA has no greeting, and requests sent before qemu-ga opened its port are answered late, in a pile
 * (seen with qemu-ga 7.2 in a guest still booting). So every (re)connection is synced first: `0xFF` (resets qemu-ga's
 * parser) plus `guest-sync-delimited {id}` with a fresh id per attempt, and every reply is thrown away
 * until that id comes back. After that, requests go one at a time through a queue.
 */
import type net from 'node:net';
import { connectOnce, QmpTimeoutError, type JsonObject } from './qmp-client.ts';

export class GuestAgentError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    readonly command: string,
  ) {
    super(`guest agent ${command}: ${errorClass}: ${desc}`);
    this.name = 'GuestAgentError';
  }
}

export type FreezeStatus = 'frozen' | 'thawed';

export interface GuestAgentClientOptions {
  /** Timeout of each request. */
  readonly timeoutMs?: number;
  /** Timeout of one sync attempt; a guest still booting is retried until `syncTimeoutMs`. */
  readonly syncAttemptMs?: number;
  readonly syncTimeoutMs?: number;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let syncCounter = Math.floor(Math.random() * 1_000_000);

export class GuestAgentClient {
  private socket: net.Socket | null = null;
  private synced = false;
  private buffer = '';
  private waiter: ((message: JsonObject) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socketPath: string,
    private readonly options: GuestAgentClientOptions = {},
  ) {}

  /** True when qemu-ga answers a ping within `timeoutMs`. */
  async ping(timeoutMs = 3000): Promise<boolean> {
    try {
      await this.request('guest-ping', undefined, { timeoutMs, syncTimeoutMs: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /** Freezes all guest filesystems; answers how many were frozen. */
  async fsfreezeFreeze(timeoutMs?: number): Promise<number> {
    const n = await this.request('guest-fsfreeze-freeze', undefined, { timeoutMs });
    return typeof n === 'number' ? n : 0;
  }

  async fsfreezeThaw(timeoutMs?: number): Promise<number> {
    const n = await this.request('guest-fsfreeze-thaw', undefined, { timeoutMs });
    return typeof n === 'number' ? n : 0;
  }

  async fsfreezeStatus(timeoutMs?: number): Promise<FreezeStatus> {
    const status = await this.request('guest-fsfreeze-status', undefined, { timeoutMs });
    return status === 'frozen' ? 'frozen' : 'thawed';
  }

  /** Starts a program in the guest (`guest-exec`, searched in qemu-ga's PATH); returns its pid. */
  async exec(program: string, args: readonly string[] = [], timeoutMs?: number): Promise<number> {
    const opts = timeoutMs === undefined ? {} : { timeoutMs, syncTimeoutMs: timeoutMs };
    const answer = await this.request('guest-exec', { path: program, arg: [...args] }, opts);
    const pid = isObject(answer) ? answer.pid : undefined;
    if (typeof pid !== 'number')
      throw new Error(`guest agent guest-exec: no pid in ${JSON.stringify(answer)}`);
    return pid;
  }

  /** `guest-exec-status`: null while the program runs, then its exit code (or 128 + signal). */
  async execExitCode(pid: number, timeoutMs?: number): Promise<number | null> {
    const opts = timeoutMs === undefined ? {} : { timeoutMs, syncTimeoutMs: timeoutMs };
    const status = await this.request('guest-exec-status', { pid }, opts);
    if (!isObject(status) || status.exited !== true) return null;
    if (typeof status.exitcode === 'number') return status.exitcode;
    return typeof status.signal === 'number' ? 128 + status.signal : -1;
  }

  /** Writes a whole file in the guest (guest-file-open/write/close). Used by tests. */
  async fileWrite(path: string, content: Buffer | string): Promise<void> {
    const handle = await this.request('guest-file-open', { path, mode: 'w' });
    try {
      const data = Buffer.from(content).toString('base64');
      await this.request('guest-file-write', { handle, 'buf-b64': data });
      await this.request('guest-file-flush', { handle });
    } finally {
      await this.request('guest-file-close', { handle });
    }
  }

  /** Reads a whole file in the guest; null if it does not exist. */
  async fileRead(path: string): Promise<Buffer | null> {
    let handle: unknown;
    try {
      handle = await this.request('guest-file-open', { path, mode: 'r' });
    } catch (error) {
      if (error instanceof GuestAgentError) return null;
      throw error;
    }
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const answer = await this.request('guest-file-read', { handle, count: 48 * 1024 });
        if (!isObject(answer)) break;
        if (typeof answer['buf-b64'] === 'string') chunks.push(Buffer.from(answer['buf-b64'], 'base64'));
        if (answer.eof === true || answer.count === 0) break;
      }
      return Buffer.concat(chunks);
    } finally {
      await this.request('guest-file-close', { handle });
    }
  }

  /** Sends one command (queued behind any other), syncing first when needed. */
  request(
    command: string,
    args?: JsonObject,
    opts: { timeoutMs?: number; syncTimeoutMs?: number } = {},
  ): Promise<unknown> {
    const run = async (): Promise<unknown> => {
      await this.ensureSynced(opts.syncTimeoutMs ?? this.options.syncTimeoutMs ?? 10_000);
      const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? 10_000;
      this.send(args ? { execute: command, arguments: args } : { execute: command });
      let reply: JsonObject;
      try {
        reply = await this.nextMessage(timeoutMs, command);
      } catch (error) {
        this.synced = false; // a late reply may still come: the next sync discards it
        throw error;
      }
      if (isObject(reply.error)) {
        throw new GuestAgentError(String(reply.error.class), String(reply.error.desc), command);
      }
      return reply.return;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
    this.synced = false;
  }

  /**
   * Syncs, retrying short attempts until `syncTimeoutMs`. The error names the whole wait, not the
   * last attempt's share of it (which once read "timed out after 478 ms" after 30 s of trying).
   */
  private async ensureSynced(syncTimeoutMs: number): Promise<void> {
    if (this.synced && this.socket && !this.socket.destroyed) return;
    const started = Date.now();
    const deadline = started + syncTimeoutMs;
    const attemptMs = this.options.syncAttemptMs ?? 500;
    let attempts = 0;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      attempts++;
      try {
        if (!this.socket || this.socket.destroyed) await this.open();
        await this.syncOnce(Math.min(attemptMs, Math.max(50, deadline - Date.now())));
        this.synced = true;
        return;
      } catch (error) {
        lastError = error;
        if (!(error instanceof QmpTimeoutError)) {
          this.close();
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    const cause =
      lastError === null || lastError instanceof QmpTimeoutError
        ? 'no answer'
        : `last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`;
    throw new QmpTimeoutError(
      `guest agent did not answer within ${Date.now() - started} ms (${attempts} sync attempts, ${cause}): is qemu-ga running in the guest?`,
    );
  }

  private async syncOnce(timeoutMs: number): Promise<void> {
    const id = ++syncCounter;
    this.buffer = '';
    this.socket?.write(Buffer.from([0xff]));
    this.send({ execute: 'guest-sync-delimited', arguments: { id } });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.nextMessage(Math.max(1, deadline - Date.now()), 'guest-sync-delimited');
      if (message.return === id) return;
    }
  }

  private async open(): Promise<void> {
    const socket = await connectOnce(this.socketPath);
    this.socket = socket;
    this.buffer = '';
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.synced = false;
      }
    });
  }

  private send(message: JsonObject): void {
    if (!this.socket) throw new Error('guest agent socket not open');
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  private onData(chunk: Buffer): void {
    // 0xFF delimits synced replies; it is never part of JSON text.
    this.buffer += chunk.toString('latin1').replaceAll('\xff', '');
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (!line) continue;
      let message: unknown;
      try {
        message = JSON.parse(Buffer.from(line, 'latin1').toString('utf8'));
      } catch {
        continue;
      }
      if (isObject(message) && this.waiter) {
        const waiter = this.waiter;
        this.waiter = null;
        waiter(message);
      }
    }
  }

  private nextMessage(timeoutMs: number, what: string): Promise<JsonObject> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      const onClose = (): void => {
        clearTimeout(timer);
        this.waiter = null;
        reject(new Error(`guest agent socket closed during ${what}`));
      };
      const timer = setTimeout(() => {
        this.waiter = null;
        socket?.off('close', onClose);
        reject(new QmpTimeoutError(`guest agent ${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket?.once('close', onClose);
      this.waiter = (message) => {
        clearTimeout(timer);
        socket?.off('close', onClose);
        resolve(message);
      };
    });
  }
}
