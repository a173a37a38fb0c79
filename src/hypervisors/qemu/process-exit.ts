/**
 * Whether a QEMU process has really gone, for a caller that is not its parent: QEMU runs
 * daemonized, so once it exits it may sit as a zombie until init reaps it.
 *
 * A zombie is not always done: when QEMU is SIGKILLed its main thread turns zombie at once, but the
 * process's files (and with them QEMU's OFD image locks) are closed only when its last thread has
 * exited, and an I/O or vCPU thread can take a while under load. An offline `qemu-img commit` run
 * in that window fails with `Failed to get "write" lock` (seen under a CPU burner). So a zombie
 * counts as exited only once its thread list holds the main thread alone.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** A signal can be sent to it: running, stopped or a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Gone, or a zombie none of whose threads still runs (so every file it held is closed). */
export function hasExited(pid: number): boolean {
  if (!isAlive(pid)) return true;
  if (processState(pid) !== 'Z') return false;
  try {
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true; // reaped between the two reads
  }
}

/** Polls `hasExited` until it holds or `timeoutMs` passes; true when the process has exited. */
export async function waitExit(pid: number, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(pid)) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return hasExited(pid);
}

/** The state letter of /proc/<pid>/stat (`R`, `S`, `D`, `Z` …); '' when unreadable. */
export function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: the state follows its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
  } catch {
    return '';
  }
}
