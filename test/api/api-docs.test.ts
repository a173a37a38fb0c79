import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiReferenceMarkdown, withApiReference } from '../../src/api/api-docs.ts';
import { COMMANDS } from '../../src/api/commands/index.ts';

describe('README API reference', () => {
  it('is generated from the command declarations and up to date (run `npm run docs:api`)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withApiReference(readme)).toBe(readme);
    const md = apiReferenceMarkdown();
    for (const c of COMMANDS) expect(md).toContain(`#### \`${c.name}\``);
    expect(md).toContain('| `virtualmachineid` | uuid | yes |');
  });
});
