/**
 * Issue 10, item 15: `vmsnap serve` says what it does when it is told to stop. A real child process
 * gets SIGTERM; its log names the signal, each shutdown step (the API closed, the job queue drained
 * and what it left queued) and the exit, and the process exits with code 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeRun } from '../helpers/serve-process.ts';

const dirs: string[] = [];
const runs: ServeRun[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The messages of the JSON log lines on stdout (the banner lines are not JSON). */
function logMessages(stdout: string): { msg: string; fields: Record<string, unknown> }[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map((fields) => ({ msg: String(fields['msg']), fields }));
}

describe('vmsnap serve on SIGTERM', () => {
  it('logs the signal, the shutdown steps and the exit, and exits with 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-sigterm-'));
    dirs.push(dir);
    const run = startServe(join(dir, 'data'), { env: { VMSNAP_LOG_LEVEL: 'info' } });
    runs.push(run);
    await run.ready();
    run.proc.kill('SIGTERM');
    const code = await run.exited;
    const out = run.stdout();
    expect(code, `exit code; stderr: ${run.stderr()}`).toBe(0);

    const messages = logMessages(out);
    const msgs = messages.map((m) => m.msg);
    // In this order; periodic work (a heartbeat) may log between them.
    let at = -1;
    for (const step of [
      'received SIGTERM: shutting down',
      'API server closed: no new requests are accepted',
      'job queue stopped: 0 running job(s) finished, 0 queued job(s) left for the next start',
      'vmsnap stopped, exiting with code 0',
    ]) {
      const i = msgs.indexOf(step, at + 1);
      expect(i, `"${step}" after line ${at} of the log:\n${out}`).toBeGreaterThan(at);
      at = i;
    }
    expect(messages.find((m) => m.msg.startsWith('received'))?.fields['signal']).toBe('SIGTERM');
    expect(messages[at]?.fields).toMatchObject({ signal: 'SIGTERM', code: 0 });
  });
});
