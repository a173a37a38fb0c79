/**
 * Builds the web console (src/console) into dist/console with esbuild's JS API: one call, no plugin
 * chain, well under a second. `npm ci` runs it (the `prepare` script, scripts/build-console.ts), and
 * `vmsnap serve` runs it at start when the bundle is missing or older than its sources, so a fresh
 * checkout needs no extra step. Asset names carry a content hash, so they can be cached for good.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CONSOLE_SOURCE_DIR = join(REPO_ROOT, 'src', 'console');
export const CONSOLE_BUNDLE_DIR = join(REPO_ROOT, 'dist', 'console');
/** The file written last: its presence and age stand for the whole bundle. */
const INDEX = 'index.html';

export interface ConsoleBuild {
  readonly dir: string;
  readonly files: readonly string[];
  readonly ms: number;
}

/** Bundles main.tsx and styles.css, copies the icon, and writes index.html naming the hashed files. */
export async function buildConsole(outDir: string = CONSOLE_BUNDLE_DIR): Promise<ConsoleBuild> {
  const started = performance.now();
  // Built beside the target and moved in whole: a server reading the old bundle never sees half of it.
  const staging = `${outDir}.building-${process.pid}-${Date.now()}`;
  const assets = join(staging, 'assets');
  mkdirSync(assets, { recursive: true });
  try {
    const result = await build({
      entryPoints: [join(CONSOLE_SOURCE_DIR, 'main.tsx'), join(CONSOLE_SOURCE_DIR, 'styles.css')],
      outdir: assets,
      entryNames: '[name]-[hash]',
      bundle: true,
      minify: true,
      sourcemap: 'linked',
      format: 'esm',
      target: ['chrome110', 'firefox115', 'safari16'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
    const js = outputs.find((f) => f.startsWith('main-') && f.endsWith('.js'));
    const css = outputs.find((f) => f.startsWith('styles-') && f.endsWith('.css'));
    if (js === undefined || css === undefined)
      throw new Error(`esbuild wrote no bundle: ${outputs.join(', ')}`);
    const iconSource = readFileSync(join(CONSOLE_SOURCE_DIR, 'favicon.svg'));
    const icon = `favicon-${createHash('sha256').update(iconSource).digest('hex').slice(0, 8)}.svg`;
    writeFileSync(join(assets, icon), iconSource);
    const html = readFileSync(join(CONSOLE_SOURCE_DIR, INDEX), 'utf8')
      .replace('%JS%', js)
      .replace('%CSS%', css)
      .replace('%ICON%', icon);
    writeFileSync(join(staging, INDEX), html);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(dirname(outDir), { recursive: true });
    try {
      renameSync(staging, outDir);
    } catch (err) {
      // Another process built the same sources into place between our rm and rename: keep theirs.
      if (!existsSync(join(outDir, INDEX))) throw err;
    }
    return {
      dir: outDir,
      files: [INDEX, ...readdirSync(join(outDir, 'assets'))],
      ms: performance.now() - started,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The newest modification time among the console's sources (and this builder). */
function newestSource(dir: string = CONSOLE_SOURCE_DIR): number {
  let newest = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** True when there is no bundle or a source changed after it was built. */
export function consoleIsStale(outDir: string = CONSOLE_BUNDLE_DIR): boolean {
  const index = join(outDir, INDEX);
  if (!existsSync(index)) return true;
  // Without its sources (an install that ships only the bundle) the bundle is all there is.
  if (!existsSync(CONSOLE_SOURCE_DIR)) return false;
  return newestSource() > statSync(index).mtimeMs;
}

/**
 * The bundle directory for `vmsnap serve`, built first when stale. A failed build with an older
 * bundle on disk serves the older one; with none, the API runs without the console.
 */
export async function ensureConsoleBuilt(
  warn: (message: string) => void,
  outDir: string = CONSOLE_BUNDLE_DIR,
): Promise<string | undefined> {
  if (!consoleIsStale(outDir)) return outDir;
  try {
    return (await buildConsole(outDir)).dir;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (existsSync(join(outDir, INDEX))) {
      warn(`web console: rebuilding failed (${why}); serving the bundle built before`);
      return outDir;
    }
    warn(`web console: cannot build it (${why}); serving the API only`);
    return undefined;
  }
}
