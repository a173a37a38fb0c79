/**
 * Loads third-party plugins the way config names them: a relative or absolute path (a file, or a
 * package directory whose package.json `main` is the entry) or a bare module name resolved by
 * Node. Each module must default-export a {@link VmsnapPlugin} built for this major version of the
 * contract ({@link PLUGIN_API_VERSION}); its `register` is called with the host.
 *
 * A relative path is resolved against the base directory the caller gives (the folder of
 * config.json), never the working directory. A plugin runs as the server, so the files a path names
 * (the file or package folder, its package.json and entry file, and their folders) must be out of
 * other local users' reach (./trusted-file.ts). URL specifiers (`file:`, `data:` …) are refused:
 * they would bypass both rules.
 */
import { messageOf } from '../core/message-of.ts';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PLUGIN_API_VERSION, type PluginHost, type VmsnapPlugin } from '../core/plugin-api.ts';
import { assertTrustedFile } from './trusted-file.ts';

export interface PluginSpec {
  /** `./examples/vendor-array-plugin`, `/abs/plugin.ts` or a package name such as `vmsnap-netapp`. */
  readonly module: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

export interface LoadedPlugin {
  readonly name: string;
  readonly module: string;
  /** The file or package name actually imported. */
  readonly resolved: string;
}

/** Loads and registers every plugin in order; the first failure throws, naming the module. */
export async function loadPlugins(
  specs: readonly PluginSpec[],
  host: PluginHost,
  baseDir: string,
): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  for (const spec of specs) {
    const resolved = await resolvePluginModule(spec.module, baseDir);
    const plugin = await importPlugin(spec.module, resolved);
    checkApiVersion(plugin, spec.module);
    const clash = loaded.find((p) => p.name === plugin.name);
    if (clash) {
      throw new Error(
        `Plugin "${plugin.name}" from "${spec.module}" is already loaded from "${clash.module}"`,
      );
    }
    try {
      await plugin.register(host, spec.options ?? {});
    } catch (err) {
      throw new Error(`Plugin "${plugin.name}" from "${spec.module}" failed to register: ${messageOf(err)}`, {
        cause: err,
      });
    }
    host.log.info({ plugin: plugin.name, module: spec.module }, 'plugin loaded');
    loaded.push({ name: plugin.name, module: spec.module, resolved });
  }
  return loaded;
}

/**
 * The checks {@link loadPlugins} makes (paths resolve, files are trusted), importing nothing: the
 * server runs them before it narrows its data dir's modes, which would hide another user's write.
 */
export async function checkPluginFiles(specs: readonly PluginSpec[], baseDir: string): Promise<void> {
  for (const spec of specs) await resolvePluginModule(spec.module, baseDir);
}

/**
 * Path-like specs (`./x`, `../x`, `/x`) become absolute file paths, checked as trusted; bare names
 * are left for Node's resolver (the server's own node_modules, not the working directory).
 */
export async function resolvePluginModule(module: string, baseDir: string): Promise<string> {
  if (isUrl(module)) throw new Error(`Plugin module "${module}" must be a path or a package name, not a URL`);
  if (!isPathLike(module)) return module;
  const path = resolve(baseDir, module);
  const info = await stat(path).catch(() => null);
  if (info === null) throw new Error(`Plugin module "${module}" not found at ${path}`);
  const what = `plugin module "${module}"`;
  assertTrustedFile(path, what);
  if (!info.isDirectory()) return path;
  const entry = join(path, await packageMain(module, path));
  assertTrustedFile(join(path, 'package.json'), `the package.json of ${what}`);
  const entryInfo = await stat(entry).catch(() => null);
  // A missing entry is left for import() to report; one that exists must be trusted like the rest.
  if (entryInfo !== null) assertTrustedFile(entry, `the entry file of ${what}`);
  return entry;
}

/** `file:`, `data:`, `https:` … (a Windows path such as `C:\…` is absolute; `node:` names a built-in module). */
function isUrl(module: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(module) && !isAbsolute(module) && !module.startsWith('node:');
}

/** `.`, `..`, `./…`, `../…` or absolute; anything else (`vmsnap-netapp`, `@acme/x`) is a package. */
function isPathLike(module: string): boolean {
  return /^\.\.?(\/|\\|$)/.test(module) || isAbsolute(module);
}

async function packageMain(module: string, dir: string): Promise<string> {
  const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => null);
  if (text === null)
    throw new Error(`Plugin module "${module}" is a directory without package.json (${dir})`);
  const pkg = JSON.parse(text) as { main?: unknown };
  return typeof pkg.main === 'string' && pkg.main.length > 0 ? pkg.main : 'index.js';
}

async function importPlugin(module: string, resolved: string): Promise<VmsnapPlugin> {
  const specifier = isAbsolute(resolved) ? pathToFileURL(resolved).href : resolved;
  let namespace: { default?: unknown };
  try {
    namespace = (await import(specifier)) as { default?: unknown };
  } catch (err) {
    throw new Error(`Cannot load plugin module "${module}": ${messageOf(err)}`, { cause: err });
  }
  return asPlugin(module, namespace.default);
}

function asPlugin(module: string, value: unknown): VmsnapPlugin {
  const problem = pluginProblem(value);
  if (problem !== null) {
    throw new Error(`Plugin module "${module}" does not default-export a vmsnap plugin: ${problem}`);
  }
  return value as VmsnapPlugin;
}

function pluginProblem(value: unknown): string | null {
  if (value === undefined) return 'it has no default export';
  if (typeof value !== 'object' || value === null)
    return `the default export is a ${typeof value}, not an object`;
  const candidate = value as { name?: unknown; register?: unknown };
  if (typeof candidate.name !== 'string' || candidate.name.length === 0)
    return 'the default export has no name';
  if (typeof candidate.register !== 'function') return 'the default export has no register() function';
  return null;
}

/**
 * A plugin built against another major version of the contract would be called with shapes it does
 * not know: refused before `register` runs, naming both versions so the operator knows which side
 * to upgrade.
 */
function checkApiVersion(plugin: VmsnapPlugin, module: string): void {
  const declared: unknown = plugin.apiVersion;
  if (declared === PLUGIN_API_VERSION) return;
  const built =
    typeof declared === 'number' && Number.isInteger(declared)
      ? `was built for plugin API version ${declared}`
      : 'declares no apiVersion (a plugin API version number)';
  throw new Error(
    `Plugin "${plugin.name}" from "${module}" ${built}, but this vmsnap provides plugin API version ` +
      `${PLUGIN_API_VERSION}; install a release of the plugin built for version ${PLUGIN_API_VERSION}`,
  );
}
