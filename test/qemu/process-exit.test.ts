/**
 * `hasExited` / `waitExit` on a process whose main thread has exited while another thread still
 * runs: the main thread shows as a zombie, but the process still holds its files (for QEMU: its
 * image locks). The old check took that zombie for an exited QEMU, and an offline `qemu-img commit`
 * right after a killed QEMU failed with `Failed to get "write" lock` under load.
 *
 * The process is python3 calling pthread_exit on its main thread (python3 comes with python3-cs,
 * which CI installs); skipped locally without python3, never in CI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hasExited, isAlive, processState, waitExit } from '../../src/hypervisors/qemu/process-exit.ts';
import { until } from '../helpers/eventually.ts';
import { hasBinary, scratchDir } from './helpers.ts';

const LINGERING_THREAD = `
import ctypes, os, sys, threading, time
release = sys.argv[1]
def linger():
    while not os.path.exists(release):
        time.sleep(0.01)
threading.Thread(target=linger).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
`;

const describePython =
  hasBinary('python3') || process.env.CI === 'true'
    ? describe
    : (name: string, fn: () => void) => describe.skip(`${name} (skipped: python3 not installed)`, fn);

describePython('process exit of a QEMU that is not our child', () => {
  const children: ChildProcess[] = [];
  let started = 0;
  const scratch = scratchDir('process-exit');
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  afterAll(() => scratch.cleanup());

  async function lingering(): Promise<{ pid: number; release: () => void }> {
    const releaseFile = path.join(scratch.dir, `release-${++started}`);
    const child = spawn('python3', ['-c', LINGERING_THREAD, releaseFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('error', reject);
    });
    const pid = child.pid ?? 0;
    await until(() => processState(pid) === 'Z', 'the main thread to exit');
    return { pid, release: () => writeFileSync(releaseFile, '') };
  }

  it('a zombie main thread with a thread still running has not exited', async () => {
    const { pid, release } = await lingering();
    expect(isAlive(pid)).toBe(true);
    expect(readdirSync(`/proc/${pid}/task`).length).toBe(2);
    expect(hasExited(pid)).toBe(false);
    release();
    await until(() => hasExited(pid), 'the last thread to exit');
  });

  it('waitExit waits for the last thread, and says so when it does not come in time', async () => {
    const { pid, release } = await lingering();
    expect(await waitExit(pid, 100, 10)).toBe(false);
    const waited = waitExit(pid, 60_000, 10);
    release();
    expect(await waited).toBe(true);
    expect(existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`).length : 0).toBeLessThanOrEqual(
      1,
    );
  });

  it('a process that is gone has exited', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    expect(hasExited(child.pid ?? 0)).toBe(true);
    expect(await waitExit(child.pid ?? 0, 1000)).toBe(true);
  });
});
