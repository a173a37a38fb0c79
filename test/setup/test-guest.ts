/**
 * vitest globalSetup: builds the tiny Linux test guest (scripts/build-test-guest.sh) once, before any
 * test file starts, and hands its paths to the workers through `inject('testGuest')`.
 *
 * Before this, every QEMU test file ran the build script from its own beforeAll: on a cold cache
 * three files built the guest at the same time into the same directory, and a build slower than
 * the hook timeout failed the file. The script also takes a lock (flock), so a test file or bench
 * that runs it directly still waits for a build in progress instead of racing it.
 *
 * The build is skipped when QEMU is missing (those tests skip) and when the run's file filters can
 * only select tests that need no guest, so `vitest run test/store` never waits for a kernel download.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

/** What the workers get: the guest's files, or why there are none. */
export type ProvidedTestGuest = { kernel: string; initrd: string } | { error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    testGuest: ProvidedTestGuest | null;
  }
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Test files under these folders boot the guest; a filter naming none of them needs no build. */
const GUEST_TEST_DIRS = ['test/qemu/', 'test/qemu-e2e/'];

/** Builds from scratch (a kernel download) can take minutes; a cached check takes milliseconds. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

function hasQemu(): boolean {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The CLI's file filters (`vitest run test/store` → ['test/store']), or undefined for a whole run.
 * vitest keeps them on an internal field; if that ever moves, this reads undefined and we build,
 * which is the safe side.
 */
function fileFilters(project: TestProject): readonly string[] | undefined {
  const filters = (project.vitest as unknown as { filenamePattern?: unknown }).filenamePattern;
  return Array.isArray(filters) && filters.every((f) => typeof f === 'string') ? filters : undefined;
}

/** The test files that boot the guest, as absolute paths. */
function guestTestFiles(): string[] {
  return GUEST_TEST_DIRS.flatMap((dir) => {
    const abs = path.join(repoRoot, dir);
    if (!existsSync(abs)) return [];
    return readdirSync(abs, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => path.join(abs, f));
  });
}

/** vitest selects a file when a filter is a substring of its path (or of it, resolved). */
function filtersMayNeedGuest(filters: readonly string[] | undefined): boolean {
  if (filters === undefined || filters.length === 0) return true;
  const files = guestTestFiles();
  return filters.some((f) =>
    files.some((file) => file.includes(f) || file.includes(path.resolve(repoRoot, f))),
  );
}

async function buildGuest(): Promise<ProvidedTestGuest> {
  try {
    await promisify(execFile)(path.join(repoRoot, 'scripts/build-test-guest.sh'), [], {
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const out = err as { message?: string; stdout?: string; stderr?: string };
    return {
      error: `scripts/build-test-guest.sh failed: ${out.message ?? ''}\n${out.stdout ?? ''}${out.stderr ?? ''}`,
    };
  }
  const cache = path.join(repoRoot, '.guest-cache');
  return { kernel: path.join(cache, 'vmlinuz'), initrd: path.join(cache, 'initrd.gz') };
}

export default async function setup(project: TestProject): Promise<void> {
  const wanted = hasQemu() && filtersMayNeedGuest(fileFilters(project));
  project.provide('testGuest', wanted ? await buildGuest() : null);
}
