/**
 * Issue 10, item 1: the API reaches vmsnap through ApiServices only. No file under src/api imports
 * kysely, the store's database handle or the composition root (src/app); eslint's
 * no-restricted-imports says the same while editing, this test says it in CI whatever the lint run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const API_DIR = new URL('../../src/api/', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms;

describe('src/api layering', () => {
  it('imports neither kysely, nor the database handle, nor src/app', () => {
    const files = sourceFiles(API_DIR);
    expect(files.length).toBeGreaterThan(20);
    const offending: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const target = m[1]!;
        if (
          /^kysely(\/|$)/.test(target) ||
          /(^|\/)app\//.test(target) ||
          target.endsWith('store/database.ts')
        )
          offending.push(`${relative(API_DIR, file)} -> ${target}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
