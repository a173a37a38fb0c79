/** A TypeScript script run as a real child process (`node --import tsx`), its stdout kept by line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';

export interface TsChild {
  readonly proc: ChildProcess;
  /** Complete stdout lines so far. */
  readonly lines: string[];
  readonly stderr: string[];
}

export function spawnTs(
  script: string,
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): TsChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffer = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  return { proc, lines, stderr };
}

/** SIGKILLs a child that must still be running, and waits until it is gone. */
export async function killHard(child: TsChild): Promise<void> {
  if (child.proc.exitCode !== null) throw new Error(`server exited early: ${child.stderr.join('')}`);
  const exited = new Promise<NodeJS.Signals | null>((r) =>
    child.proc.once('exit', (_c, signal) => r(signal)),
  );
  child.proc.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}
