/**
 * The host agent's secrets on disk: its token file and its TLS private key. Both are read only from
 * files that no other local user can read or write (group and other bits clear): a readable key
 * lets a local user impersonate the agent to the management server, which pinned its certificate;
 * a writable one lets them swap it. `vmsnap agent` and the env-driven agent process (agent-main.ts)
 * read them here, so both refuse the same files with the same words.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** The file's bytes, or an error naming `what` and the file if it is open to group or others. */
export function readPrivateFile(path: string, what: string): Buffer {
  const file = resolve(path);
  const stat = statSync(file);
  if (!stat.isFile()) throw new Error(`${what} ${file} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new Error(
      `${what} ${file} is open to group or others (mode ${mode}): refusing it; chmod 600 ${file}`,
    );
  }
  return readFileSync(file);
}

/** PEM certificate and private key files, and how the caller names them in errors. */
export interface AgentTlsFiles {
  readonly cert: string | undefined;
  readonly key: string | undefined;
  /** e.g. `--tls-cert` / `--tls-key`, or the environment variables' names. */
  readonly names: { readonly cert: string; readonly key: string };
}

/**
 * What to serve https with: the certificate (public, read as it is) and the private key (a private
 * file); undefined when neither is given (http). One without the other is refused.
 */
export function readAgentTls(files: AgentTlsFiles): { cert: Buffer; key: Buffer } | undefined {
  if (files.cert === undefined && files.key === undefined) return undefined;
  if (files.cert === undefined || files.key === undefined)
    throw new Error(`https needs both ${files.names.cert} and ${files.names.key}`);
  return {
    cert: readFileSync(resolve(files.cert)),
    key: readPrivateFile(files.key, 'TLS key file'),
  };
}
