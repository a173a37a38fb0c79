/** Regenerates the API reference section of README.md from the command declarations. */
import { readFileSync, writeFileSync } from 'node:fs';
import { withApiReference } from '../src/api/api-docs.ts';

const file = new URL('../README.md', import.meta.url);
writeFileSync(file, withApiReference(readFileSync(file, 'utf8')));
process.stdout.write('README.md API reference updated\n');
