/**
 * Issue 9, item 10 (agent side): `vmsnap agent` takes its token from `VMSNAP_AGENT_TOKEN` or a
 * private `--token-file`, never from the command line, where every local user sees it in `ps`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAgentToken } from '../../src/cli/agent-token.ts';
import { cleanEnv, runCli } from '../cli/cli-process.ts';
import { repoRoot, scratchDir } from './helpers.ts';

describe('the agent token', () => {
  const scratch = scratchDir('token');
  afterAll(() => scratch.cleanup());

  function tokenFile(name: string, content: string, mode: number): string {
    const file = path.join(scratch.dir, name);
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  }

  it('comes from a 0600 file (first line, trimmed) or from the environment', () => {
    const file = tokenFile('ok.token', 's3cret-from-file\n', 0o600);
    expect(readAgentToken({ tokenFile: file, env: {} })).toBe('s3cret-from-file');
    expect(readAgentToken({ env: { VMSNAP_AGENT_TOKEN: 's3cret-from-env' } })).toBe('s3cret-from-env');
  });

  it('refuses a file others can read or write, naming it', () => {
    for (const mode of [0o644, 0o640, 0o602]) {
      const file = tokenFile(`open-${mode.toString(8)}.token`, 'x', mode);
      expect(() => readAgentToken({ tokenFile: file, env: {} })).toThrow(file);
    }
  });

  it('refuses --token, and no token at all', () => {
    expect(() => readAgentToken({ token: 'in-ps', env: { VMSNAP_AGENT_TOKEN: 'x' } })).toThrow(
      /--token .*ps/,
    );
    expect(() => readAgentToken({ env: {} })).toThrow(/VMSNAP_AGENT_TOKEN or --token-file/);
    expect(() => readAgentToken({ tokenFile: tokenFile('empty.token', '\n', 0o600), env: {} })).toThrow(
      /empty/,
    );
  });

  it('vmsnap agent refuses --token and a readable --token-file before it starts', async () => {
    const env = cleanEnv({ VMSNAP_DATA_DIR: path.join(scratch.dir, 'data') });
    const open = tokenFile('cli-open.token', 's3cret', 0o644);
    const [withToken, withOpenFile] = await Promise.all([
      runCli(['agent', '--port', '0', '--token', 's3cret'], env),
      runCli(['agent', '--port', '0', '--token-file', open], env),
    ]);
    expect(withToken.code).toBe(1);
    expect(withToken.stderr).toMatch(/--token is no longer accepted/);
    expect(withOpenFile.code).toBe(1);
    expect(withOpenFile.stderr).toContain(`token file ${open} is open to group or others`);
  });

  it('vmsnap agent serves with the token from a 0600 --token-file', async () => {
    const file = tokenFile('cli-ok.token', 'cli-s3cret-0123456789\n', 0o600);
    const dirs = ['--state-dir', path.join(scratch.dir, 'st'), '--pool-dir', path.join(scratch.dir, 'pl')];
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'bin/vmsnap.js'),
        'agent',
        '--port',
        '0',
        '--accel',
        'tcg',
        '--token-file',
        file,
        ...dirs,
      ],
      { cwd: repoRoot, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const onData = (d: Buffer) => {
          out += d.toString();
          const match = /vmsnap-agent listening (\S+)/.exec(out);
          if (match?.[1]) resolve(match[1]);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.on('exit', () => reject(new Error(`agent exited:\n${out}`)));
      });
      const ping = (token: string) =>
        fetch(`${url}/v1/command`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: '{"kind":"Ping"}',
        }).then((r) => r.status);
      expect(await ping('cli-s3cret-0123456789')).toBe(200);
      expect(await ping('wrong-token')).toBe(401);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
