/**
 * Server configuration: defaults, then `<data-dir>/config.json`, then environment variables.
 * Parsed with zod so a bad file gets a clear message instead of a crash later. config.json decides
 * which code the server runs (plugins), so a file or folder that another local user can write is
 * refused before it is read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { assertTrustedFile } from '../plugins/trusted-file.ts';

const pluginSpec = z.object({
  module: z.string().min(1),
  options: z.record(z.string(), z.unknown()).optional(),
});

// A plain string is a module without options (docs/plugins.md).
const pluginEntry = z.union([
  z
    .string()
    .min(1)
    .transform((module) => ({ module })),
  pluginSpec,
]);

const fileSchema = z
  .object({
    databaseUrl: z.string().optional(),
    plugins: z.array(pluginEntry).optional(),
    jobConcurrency: z.number().int().positive().optional(),
  })
  .strict();

export type PluginSpecConfig = z.infer<typeof pluginSpec>;

export interface AppConfig {
  readonly dataDir: string;
  /** `sqlite:<file>` (default) or `postgres://…` (several management servers). */
  readonly databaseUrl: string;
  readonly plugins: readonly PluginSpecConfig[];
  /**
   * Where relative plugin paths are resolved from: the folder of config.json, never the working
   * directory, which an operator does not control (docs/plugins.md).
   */
  readonly pluginBaseDir: string;
  readonly jobConcurrency: number;
}

export function defaultDataDir(): string {
  return process.env['VMSNAP_DATA_DIR'] ?? join(homedir(), '.vmsnap');
}

export function configPath(dataDir: string): string {
  return join(dataDir, 'config.json');
}

/** The SQLite database a data dir holds unless another database URL is configured. */
export function defaultDatabaseFile(dataDir: string): string {
  return join(dataDir, 'vmsnap.db');
}

export function loadConfig(dataDir: string, overrides: Partial<AppConfig> = {}): AppConfig {
  const dir = resolve(dataDir);
  const file = configPath(dir);
  let fromFile: z.infer<typeof fileSchema> = {};
  if (existsSync(file)) {
    assertTrustedFile(file, 'the config file');
    const parsed = fileSchema.safeParse(parseJsonFile(file));
    if (!parsed.success) throw new Error(`invalid ${file}: ${z.prettifyError(parsed.error)}`);
    fromFile = parsed.data;
  }
  const envPlugins = process.env['VMSNAP_PLUGINS']
    ?.split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .map((module) => ({ module }));
  return {
    dataDir: dir,
    databaseUrl:
      overrides.databaseUrl ??
      process.env['VMSNAP_DATABASE_URL'] ??
      fromFile.databaseUrl ??
      `sqlite:${defaultDatabaseFile(dir)}`,
    plugins: overrides.plugins ?? [...(fromFile.plugins ?? []), ...(envPlugins ?? [])],
    pluginBaseDir: overrides.pluginBaseDir ?? dirname(file),
    jobConcurrency: overrides.jobConcurrency ?? fromFile.jobConcurrency ?? 32,
  };
}

/** JSON.parse, with a syntax error naming the file and the line and column it stopped at. */
function parseJsonFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /at position (\d+)/.exec(message)?.[1];
    const where = position === undefined ? '' : ` (${lineAndColumn(text, Number(position))})`;
    throw new Error(`invalid JSON in ${file}${where}: ${message}`, { cause: err });
  }
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
