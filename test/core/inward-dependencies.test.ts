/**
 * Dependencies point inward: drivers and strategies implement interfaces the core owns, and the
 * core, the manager, the strategies, the jobs, the schedules and the store import no driver, no
 * hypervisor, no API, no CLI and not the composition root. src/core imports nothing of ours outside
 * itself. (src/api has its own rule: test/api/layering.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;
const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative import of the folder's files, as a path under src/ (e.g. `storage-drivers/file/x.ts`). */
function importsOf(folder: string): { file: string; target: string }[] {
  return sourceFiles(join(SRC, folder)).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .map((m) => m[1]!)
      .filter((t) => t.startsWith('.'))
      .map((t) => ({ file: relative(SRC, file), target: relative(SRC, resolve(dirname(file), t)) })),
  );
}

const OUTER = ['storage-drivers/', 'hypervisors/', 'api/', 'cli/', 'app/', 'plugins/', 'agent-client/'];

describe('inward dependencies', () => {
  it.each(['core', 'manager', 'strategies', 'jobs', 'store', 'schedules'])(
    'src/%s imports no driver, hypervisor, API, CLI or composition root',
    (folder) => {
      const found = importsOf(folder);
      expect(found.length).toBeGreaterThan(0);
      const offending = found.filter(({ target }) => OUTER.some((o) => target.startsWith(o)));
      expect(offending).toEqual([]);
    },
  );

  it('src/core imports nothing of ours outside src/core', () => {
    const offending = importsOf('core').filter(({ target }) => !target.startsWith('core/'));
    expect(offending).toEqual([]);
  });
});
