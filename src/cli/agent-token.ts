/**
 * Where `vmsnap agent` takes its token from: a file only its owner can read (`--token-file`), or
 * the environment (`VMSNAP_AGENT_TOKEN`). Never the command line: every local user sees a process's
 * arguments in `ps`, and `/proc/<pid>/environ` and a 0600 file are readable by its owner alone.
 */
import { resolve } from 'node:path';
import { readPrivateFile } from '../hypervisors/qemu/agent-secrets.ts';

export const TOKEN_ENV = 'VMSNAP_AGENT_TOKEN';

export interface AgentTokenSource {
  /** Path of a file holding the token (one line); it must not be readable or writable by others. */
  readonly tokenFile?: string | undefined;
  /** Given on the command line: refused (it would show in `ps`). */
  readonly token?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function readAgentToken(source: AgentTokenSource): string {
  if (source.token !== undefined)
    throw new Error(
      `--token is no longer accepted: a token on the command line shows in ps to every local user. ` +
        `Use ${TOKEN_ENV} or --token-file <path> (a file of mode 0600)`,
    );
  const token =
    source.tokenFile !== undefined ? readTokenFile(resolve(source.tokenFile)) : source.env[TOKEN_ENV];
  if (token === undefined || token === '')
    throw new Error(
      `the agent needs a token: ${TOKEN_ENV} or --token-file <path> (give the same to addHost as password)`,
    );
  return token;
}

function readTokenFile(file: string): string {
  const token = readPrivateFile(file, 'token file').toString('utf8').trim();
  if (token === '') throw new Error(`token file ${file} is empty`);
  return token;
}
