/** `vmsnap profile set|list|use`: the named credentials in the CLI config file. */
import type { Command } from 'commander';
import { outputFor } from '../context.ts';
import {
  configFilePath,
  currentProfileName,
  DEFAULT_ENDPOINT,
  loadConfig,
  saveConfig,
  setProfile,
  useProfile,
} from '../profiles.ts';

export function registerProfileCommands(program: Command): void {
  const profile = program
    .command('profile')
    .description(`named endpoints and API keys (stored in ${displayPath()}, env VMSNAP_CLI_CONFIG)`);

  profile
    .command('set <name>')
    .description('create or update a profile; the first one becomes current')
    .option('--endpoint <url>', `API endpoint (default ${DEFAULT_ENDPOINT})`)
    .option('--api-key <key>', 'API key')
    .option('--secret-key <secret>', 'secret key')
    .action(
      (name: string, opts: { endpoint?: string; apiKey?: string; secretKey?: string }, cmd: Command) => {
        const file = configFilePath();
        const config = setProfile(loadConfig(file), name, opts);
        saveConfig(file, config);
        outputFor(cmd).line(`profile ${name} saved in ${file}${config.current === name ? ' (current)' : ''}`);
      },
    );

  profile
    .command('list')
    .description('list the profiles (secrets are never shown)')
    .action((_opts: unknown, cmd: Command) => {
      const out = outputFor(cmd);
      const config = loadConfig(configFilePath());
      const current = currentProfileName(config);
      const profiles = Object.entries(config.profiles).map(([name, p]) => ({
        name,
        current: name === current,
        endpoint: p.endpoint ?? DEFAULT_ENDPOINT,
        apiKey: p.apiKey ?? '',
        secretKey: p.secretKey === undefined ? '' : '(set)',
      }));
      if (out.json) return out.printJson({ current, profiles });
      if (profiles.length === 0) return out.line(`no profiles in ${configFilePath()}`);
      out.table(
        ['', 'name', 'endpoint', 'api key', 'secret key'],
        profiles.map((p) => [p.current ? '*' : '', p.name, p.endpoint, abbreviate(p.apiKey), p.secretKey]),
        { wrap: [1, 2] },
      );
    });

  profile
    .command('use <name>')
    .description('make a profile the current one')
    .action((name: string, _opts: unknown, cmd: Command) => {
      const file = configFilePath();
      saveConfig(file, useProfile(loadConfig(file), name));
      outputFor(cmd).line(`now using profile ${name}`);
    });
}

function abbreviate(key: string): string {
  return key.length > 16 ? `${key.slice(0, 12)}…` : key;
}

function displayPath(): string {
  return process.env['VMSNAP_CLI_CONFIG'] ? '$VMSNAP_CLI_CONFIG' : '~/.vmsnap/cli.json';
}
