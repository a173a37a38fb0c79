/**
 * CLI profiles: named (endpoint, API key, secret key) triples in `~/.vmsnap/cli.json` (path
 * overridable with `VMSNAP_CLI_CONFIG`), plus the environment overrides. The file holds secrets, so
 * it is always written with mode 0600 in a 0700 directory.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8080/client/api';
export const DEFAULT_PROFILE = 'default';

const profileSchema = z.object({
  endpoint: z.string().optional(),
  apiKey: z.string().optional(),
  secretKey: z.string().optional(),
});

const configSchema = z.object({
  profiles: z.record(z.string(), profileSchema).default({}),
  current: z.string().optional(),
});

export type Profile = z.infer<typeof profileSchema>;
export type CliConfig = z.infer<typeof configSchema>;

/** What a client needs to talk to the server, with where the profile name came from for messages. */
export interface Credentials {
  readonly profile: string;
  readonly endpoint: string;
  readonly apiKey: string;
  readonly secretKey: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function configFilePath(env: Env = process.env): string {
  const override = env['VMSNAP_CLI_CONFIG'];
  return override !== undefined && override !== '' ? override : join(homedir(), '.vmsnap', 'cli.json');
}

export function loadConfig(file: string): CliConfig {
  if (!existsSync(file)) return { profiles: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`invalid CLI config ${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Writes through a temp file and rename, so a crash never leaves a half-written secrets file. */
export function saveConfig(file: string, config: CliConfig): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The mode option is ignored when the file exists and is masked by the umask: enforce it.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** `profile set`: fields not given keep their old value; the first profile becomes current. */
export function setProfile(config: CliConfig, name: string, fields: Profile): CliConfig {
  const merged: Profile = { ...config.profiles[name] };
  if (fields.endpoint !== undefined) merged.endpoint = normalizeEndpoint(fields.endpoint);
  if (fields.apiKey !== undefined) merged.apiKey = fields.apiKey;
  if (fields.secretKey !== undefined) merged.secretKey = fields.secretKey;
  return {
    profiles: { ...config.profiles, [name]: merged },
    current: config.current ?? name,
  };
}

export function useProfile(config: CliConfig, name: string): CliConfig {
  if (config.profiles[name] === undefined) throw unknownProfile(config, name);
  return { ...config, current: name };
}

export function currentProfileName(config: CliConfig): string {
  return config.current ?? DEFAULT_PROFILE;
}

/**
 * The credentials in effect: the profile (`--profile`, else the config's current one), each field
 * overridden by `VMSNAP_ENDPOINT` / `VMSNAP_API_KEY` / `VMSNAP_SECRET_KEY` when set.
 */
export function resolveCredentials(
  config: CliConfig,
  explicitProfile: string | undefined,
  env: Env,
): Credentials {
  const name = explicitProfile ?? currentProfileName(config);
  const profile = config.profiles[name];
  if (explicitProfile !== undefined && profile === undefined) throw unknownProfile(config, explicitProfile);
  const pick = (envName: string, fromProfile: string | undefined): string | undefined => {
    const v = env[envName];
    return v !== undefined && v !== '' ? v : fromProfile;
  };
  const endpoint = pick('VMSNAP_ENDPOINT', profile?.endpoint) ?? DEFAULT_ENDPOINT;
  const apiKey = pick('VMSNAP_API_KEY', profile?.apiKey);
  const secretKey = pick('VMSNAP_SECRET_KEY', profile?.secretKey);
  if (apiKey === undefined || secretKey === undefined) throw missingCredentials(name);
  return { profile: name, endpoint: normalizeEndpoint(endpoint), apiKey, secretKey };
}

/** `http://host:8080` alone means the API path; any explicit path is kept as given. */
export function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`invalid endpoint ${endpoint}: expected a URL such as ${DEFAULT_ENDPOINT}`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/client/api';
  return url.toString();
}

function unknownProfile(config: CliConfig, name: string): Error {
  const known = Object.keys(config.profiles);
  return new Error(
    `no profile named ${name} (known: ${known.length > 0 ? known.join(', ') : 'none'}); ` +
      `create it with: vmsnap profile set ${name} --endpoint URL --api-key KEY --secret-key SECRET`,
  );
}

function missingCredentials(profile: string): Error {
  return new Error(
    `no API credentials for profile ${profile}. Either run\n` +
      `  vmsnap profile set ${profile} --endpoint ${DEFAULT_ENDPOINT} --api-key KEY --secret-key SECRET\n` +
      `or export VMSNAP_API_KEY and VMSNAP_SECRET_KEY (and VMSNAP_ENDPOINT). ` +
      `\`vmsnap serve\` prints the admin keys when it starts.`,
  );
}
