/**
 * What the job queue logs. Issue 10, item 15: stopping says what it does (it lets the running jobs
 * finish, then how many finished and how many queued jobs are left for the next start). Item 4: a
 * failed job is logged under `err`; a caller's error (a check) at info, as text, without a stack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudRuntimeError, InvalidParameterError } from '../../src/core/errors.ts';
import type { Logger } from '../../src/core/plugin-api.ts';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { openStore, type OpenedStore } from '../../src/store/database.ts';
import { eventually } from '../helpers/eventually.ts';

interface Line {
  readonly level: string;
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function recordingLog(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push(
        typeof obj === 'string'
          ? { level, fields: {}, message: obj }
          : { level, fields: obj as Record<string, unknown>, message: msg ?? '' },
      );
    };
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

const submission = (queueKey: string, payload: Record<string, unknown> = {}) => ({
  kind: 'work',
  queueKey,
  accountId: 'a',
  userId: 'u',
  cmd: 'test',
  payload,
});

describe('job queue stop() logging', () => {
  let dir: string;
  let store: OpenedStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-jq-log-'));
    store = await openStore({ url: `sqlite:${join(dir, 'db.sqlite')}` });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs the drain of the running job, then what finished and what is left queued', async () => {
    const lines: Line[] = [];
    const queue = new JobQueue({ db: store.db, log: recordingLog(lines), pollMs: 5 });
    let release: () => void = () => undefined;
    const slowStarted = new Promise<void>((started) => {
      queue.handle(
        'work',
        async (job) => {
          if (job.payload['slow'] === true) {
            started();
            await new Promise<void>((r) => (release = r));
          }
          return {};
        },
        async () => ({}),
      );
    });
    await queue.start();
    await queue.submit(submission('vm-1', { slow: true }));
    // Behind the slow job on the same VM's queue: still queued when the queue stops.
    await queue.submit(submission('vm-1'));
    await queue.submit(submission('vm-1'));
    await slowStarted;

    const stopping = queue.stop();
    const draining = await eventually(
      () => lines.find((l) => l.message.startsWith('job queue stopping')),
      'the drain to be logged',
    );
    expect(draining).toMatchObject({ level: 'info', fields: { running: 1 } });
    expect(lines.some((l) => l.message.startsWith('job queue stopped'))).toBe(false);
    release();
    await stopping;
    expect(lines.find((l) => l.message.startsWith('job queue stopped'))).toEqual({
      level: 'info',
      fields: { drained: 1, queued: 2 },
      message: 'job queue stopped: 1 running job(s) finished, 2 queued job(s) left for the next start',
    });
  });

  it('an idle queue logs only that it stopped', async () => {
    const lines: Line[] = [];
    const queue = new JobQueue({ db: store.db, log: recordingLog(lines), pollMs: 5 });
    await queue.start();
    await queue.stop();
    expect(lines.map((l) => l.message)).toEqual([
      'job queue stopped: 0 running job(s) finished, 0 queued job(s) left for the next start',
    ]);
  });
});

describe('job failure logging', () => {
  let dir: string;
  let store: OpenedStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-jq-fail-'));
    store = await openStore({ url: `sqlite:${join(dir, 'db.sqlite')}` });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a check is info with its text; our failure is a warning with the error; a bug an error with its id', async () => {
    const lines: Line[] = [];
    const queue = new JobQueue({ db: store.db, log: recordingLog(lines), pollMs: 5 });
    const check = new InvalidParameterError('Instance Snapshot reverting failed');
    const failure = new CloudRuntimeError('Failed to create Instance Snapshot');
    const bug = new TypeError('x is undefined');
    const thrown: Record<string, Error> = { check, failure, bug };
    queue.handle(
      'work',
      async (job) => {
        throw thrown[String(job.payload['throw'])] ?? new Error('unknown error name');
      },
      async () => ({}),
    );
    await queue.start();
    try {
      for (const name of Object.keys(thrown)) {
        const id = await queue.submit(submission(name, { throw: name }));
        expect((await queue.waitFor(id, 20_000)).status).toBe('failed');
      }
    } finally {
      await queue.stop();
    }
    const failed = lines.filter((l) => l.message.startsWith('job failed'));
    expect(failed.map((l) => [l.level, l.fields['err']])).toEqual([
      ['info', 'Instance Snapshot reverting failed'],
      ['warn', failure],
      ['error', bug],
    ]);
    expect(failed[0]?.fields['code']).toBe(431);
    expect(failed[2]?.fields['errorId']).toEqual(expect.any(String));
  });
});
