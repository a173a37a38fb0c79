/**
 * The README's KVM walkthrough as data: the shell blocks after `<!-- readme-walkthrough: <name> -->`
 * markers, split into commands, with the few host-specific strings (folders, ports) swapped for a
 * test's own. A swap whose text the README no longer holds is an error, so the README and the test
 * cannot drift apart unnoticed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../qemu/helpers.ts';

export const README = path.join(repoRoot, 'README.md');

/** Every `<!-- readme-walkthrough: name -->` block of the README, by name, as written. */
export function walkthroughBlocks(markdown: string = readFileSync(README, 'utf8')): Map<string, string> {
  const blocks = new Map<string, string>();
  const marker = /<!-- readme-walkthrough: ([\w-]+) -->\s*\n```sh\n([\s\S]*?)\n```/g;
  for (const match of markdown.matchAll(marker)) {
    const [, name, body] = match;
    if (name !== undefined && body !== undefined) blocks.set(name, body);
  }
  return blocks;
}

/** `from` → `to`, each of which must occur in the text. */
export function substitute(text: string, swaps: Readonly<Record<string, string>>): string {
  let out = text;
  for (const [from, to] of Object.entries(swaps)) {
    if (!out.includes(from)) throw new Error(`the README walkthrough no longer contains ${from}`);
    out = out.split(from).join(to);
  }
  return out;
}

/** The commands of a block: continuation lines joined, comment-only and blank lines dropped. */
export function commandsOf(block: string): string[] {
  const joined = block.replace(/\\\n\s*/g, '');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export interface ScriptRun {
  readonly code: number | null;
  /** stdout and stderr interleaved, with bash's `+ command` trace lines. */
  readonly output: string;
}

/**
 * Runs commands as one bash script (so a variable set by one line is seen by the next), stopping at
 * the first failure, which it names. `boundMs` only guards against a hang; it is not a budget.
 */
export function runScript(
  commands: readonly string[],
  opts: { env: NodeJS.ProcessEnv; boundMs: number },
): Promise<ScriptRun> {
  const script = [
    'set -euo pipefail',
    'trap \'echo "walkthrough command failed: $BASH_COMMAND" >&2\' ERR',
    'set -x',
    ...commands,
  ].join('\n');
  const child = spawn('bash', ['-c', script], {
    cwd: repoRoot,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => killGroup(child), opts.boundMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export interface LongRunning {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
  waitFor(pattern: RegExp, boundMs: number): Promise<RegExpExecArray>;
  /** SIGTERM to its whole process group (npx runs the command in a child of its own). */
  stop(): Promise<void>;
}

/** Starts a command that stays in the foreground (the agent), in a process group of its own. */
export function startLongRunning(command: string, env: NodeJS.ProcessEnv): LongRunning {
  const child = spawn('bash', ['-c', `exec ${command}`], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: string): void => {
    out += d;
    for (const l of listeners) l();
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    output: () => out,
    waitFor(pattern, boundMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(out);
          if (match === null) return;
          done();
          resolve(match);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${String(pattern)} within ${boundMs} ms:\n${out}`));
        }, boundMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        void exited.then(() => {
          done();
          reject(new Error(`${command} exited before printing ${String(pattern)}:\n${out}`));
        });
        listeners.add(check);
        check();
      });
    },
    async stop() {
      killGroup(child);
      await exited;
    },
  };
}

/**
 * SIGTERM to the group the child leads, even when the child itself has exited: npx may be gone
 * while the command it started still runs.
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}
