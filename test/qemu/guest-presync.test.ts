/**
 * Issue 15, item 3: the pre-freeze `sync` through guest-exec, against a scripted qemu-ga on a unix
 * socket (no QEMU needed): done, refused (guest-exec disabled), still running at the deadline, and a
 * guest agent that stops answering (an error, so the snapshot fails before any freeze is sent).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GuestAgentClient } from '../../src/hypervisors/qemu/guest-agent-client.ts';
import { GuestSyncUnansweredError, syncGuestBeforeFreeze } from '../../src/hypervisors/qemu/guest-presync.ts';

type Answer = { return: unknown } | { error: { class: string; desc: string } };
/** An answer, an answer sent late, or none. */
type Reply = Answer | { late: number; answer: Answer } | 'silence';

/** A qemu-ga stand-in: answers guest-sync-delimited, and every other command through `script`. */
async function fakeGuestAgent(
  script: (command: string, args: Record<string, unknown>) => Reply,
): Promise<{ socketPath: string; seen: string[]; close: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsnap-fakeqga-'));
  const socketPath = path.join(dir, 'qga.sock');
  const seen: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1').replaceAll('\xff', '');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const message = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown> };
        if (message.execute === 'guest-sync-delimited') {
          socket.write(`\xff${JSON.stringify({ return: message.arguments?.id })}\n`, 'latin1');
          continue;
        }
        seen.push(message.execute);
        const reply = script(message.execute, message.arguments ?? {});
        if (reply === 'silence') continue;
        if ('late' in reply) setTimeout(() => socket.write(`${JSON.stringify(reply.answer)}\n`), reply.late);
        else socket.write(`${JSON.stringify(reply)}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('pre-freeze guest sync', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function clientFor(script: Parameters<typeof fakeGuestAgent>[0]) {
    const fake = await fakeGuestAgent(script);
    const client = new GuestAgentClient(fake.socketPath, { syncAttemptMs: 100, syncTimeoutMs: 2000 });
    cleanups.push(fake.close, () => client.close());
    return { fake, client };
  }

  it('runs `sync` with guest-exec and polls guest-exec-status until it has exited', async () => {
    let polls = 0;
    const { fake, client } = await clientFor((command, args) => {
      if (command === 'guest-exec') {
        expect(args).toEqual({ path: 'sync', arg: [] });
        return { return: { pid: 42 } };
      }
      if (command === 'guest-exec-status') {
        expect(args).toEqual({ pid: 42 });
        return { return: ++polls < 3 ? { exited: false } : { exited: true, exitcode: 0 } };
      }
      return { error: { class: 'CommandNotFound', desc: command } };
    });
    const outcome = await syncGuestBeforeFreeze(client, { pollMs: 1 });
    expect(outcome.result).toBe('done');
    expect(outcome.reason).toBeUndefined();
    expect(fake.seen).toEqual(['guest-exec', 'guest-exec-status', 'guest-exec-status', 'guest-exec-status']);
    // Nothing freezes on this path.
    expect(fake.seen.some((c) => c.startsWith('guest-fsfreeze'))).toBe(false);
  });

  it('a guest agent with guest-exec disabled refuses: the outcome says so, nothing throws', async () => {
    const { client } = await clientFor(() => ({
      error: { class: 'CommandNotFound', desc: 'The command guest-exec has been disabled for this instance' },
    }));
    const outcome = await syncGuestBeforeFreeze(client);
    expect(outcome.result).toBe('refused');
    expect(outcome.reason).toMatch(/guest-exec has been disabled/);
  });

  it('a poll sent near the deadline gets a whole request timeout: a slow answer is not silence', async () => {
    const { client } = await clientFor((command) =>
      command === 'guest-exec'
        ? { return: { pid: 3 } }
        : { late: 60, answer: { return: { exited: true, exitcode: 0 } } },
    );
    // The sync's deadline (20 ms) passes while the first poll waits for its answer (60 ms).
    const outcome = await syncGuestBeforeFreeze(client, { timeoutMs: 20, requestTimeoutMs: 5000 });
    expect(outcome.result).toBe('done');
  });

  it('a sync still running at the deadline ends as timed-out, with a bounded number of polls', async () => {
    const { fake, client } = await clientFor((command) =>
      command === 'guest-exec' ? { return: { pid: 7 } } : { return: { exited: false } },
    );
    const outcome = await syncGuestBeforeFreeze(client, { timeoutMs: 150, pollMs: 10 });
    expect(outcome.result).toBe('timed-out');
    expect(fake.seen.filter((c) => c === 'guest-exec-status').length).toBeLessThanOrEqual(16);
  });

  it('a non-zero exit is reported, and counts as done (the freeze goes ahead)', async () => {
    const { client } = await clientFor((command) =>
      command === 'guest-exec' ? { return: { pid: 9 } } : { return: { exited: true, exitcode: 1 } },
    );
    expect(await syncGuestBeforeFreeze(client)).toMatchObject({ result: 'done', reason: 'exit code 1' });
  });

  it('a guest agent that stops answering is an error (the caller fails before any freeze)', async () => {
    const { fake, client } = await clientFor(() => 'silence');
    const error = await syncGuestBeforeFreeze(client, { requestTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GuestSyncUnansweredError);
    expect((error as Error).message).toMatch(/stopped answering during the pre-freeze sync/);
    expect(fake.seen).toEqual(['guest-exec']);
  });
});
