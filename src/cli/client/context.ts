/**
 * What every client command works with, built from the global options (`--profile`, `--json`):
 * an API client on the resolved credentials, the output, and the stream progress goes to.
 */
import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { createOutput, type Output } from './output.ts';
import type { ProgressStream } from './progress-line.ts';
import { configFilePath, loadConfig, resolveCredentials } from './profiles.ts';
import { exitQuietlyOnEpipe } from './stdout-epipe.ts';

export interface GlobalOptions {
  readonly profile?: string;
  readonly json?: boolean;
}

export interface ClientContext {
  readonly client: ApiClient;
  readonly out: Output;
  readonly progress: ProgressStream;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals<{ profile?: unknown; json?: unknown }>();
  return {
    ...(typeof opts.profile === 'string' ? { profile: opts.profile } : {}),
    json: opts.json === true,
  };
}

export function outputFor(cmd: Command): Output {
  // Output piped into `head` must not end in a stack trace.
  exitQuietlyOnEpipe();
  return createOutput(globalOptions(cmd).json === true);
}

export function clientContext(cmd: Command): ClientContext {
  exitQuietlyOnEpipe();
  const opts = globalOptions(cmd);
  const config = loadConfig(configFilePath());
  const credentials = resolveCredentials(config, opts.profile, process.env);
  return {
    client: new ApiClient(credentials),
    out: createOutput(opts.json === true),
    progress: process.stderr,
  };
}
