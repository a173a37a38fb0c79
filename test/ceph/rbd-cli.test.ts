/**
 * The rbd/ceph CLI runner, against a stand-in `rbd` on PATH (no Ceph needed): the cephx key never
 * reaches a command line (`ps` would show it), it goes through a 0600 keyfile removed after the
 * call, and exit codes (errnos) become messages that name the cause without the key.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephCli, CephCliError } from '../../src/storage-drivers/ceph-rbd/rbd-cli.ts';

const KEY = 'AQCP4w5r3hYwJBAAA428ge3bBU75fKaI+nKP3A==';
const access = { monitors: [{ host: '127.0.0.1', port: 3300 }], user: 'cloudstack', key: KEY };

// Records its argv and what it found at --keyfile, then exits as told by the environment.
const FAKE_RBD = `#!/bin/sh
out="$FAKE_OUT"
printf '%s\\n' "$@" > "$out.argv"
prev=""
for a in "$@"; do
  if [ "$prev" = "--keyfile" ]; then stat -c '%a' "$a" > "$out.mode"; cat "$a" > "$out.key"; echo "$a" > "$out.path"; fi
  prev="$a"
done
printf '%s' "$FAKE_STDERR" >&2
printf '[]'
exit "\${FAKE_EXIT:-0}"
`;

describe('CephCli', () => {
  let dir: string;
  let savedPath: string | undefined;
  const out = (): string => path.join(dir, 'call');
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsnap-fake-rbd-'));
    writeFileSync(path.join(dir, 'rbd'), FAKE_RBD);
    chmodSync(path.join(dir, 'rbd'), 0o755);
    savedPath = process.env['PATH'];
    process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
    process.env['FAKE_OUT'] = out();
  });
  afterAll(() => {
    process.env['PATH'] = savedPath;
    delete process.env['FAKE_OUT'];
    delete process.env['FAKE_EXIT'];
    delete process.env['FAKE_STDERR'];
    rmSync(dir, { recursive: true, force: true });
  });

  function fail(exit: number, stderr: string): void {
    process.env['FAKE_EXIT'] = String(exit);
    process.env['FAKE_STDERR'] = stderr;
  }

  it('passes the key in a 0600 keyfile, never on the command line, and removes the file after', async () => {
    fail(0, '');
    expect(await new CephCli(access).json('rbd', ['ls', 'vms'])).toEqual([]);
    const argv = readFileSync(`${out()}.argv`, 'utf8').split('\n');
    expect(argv.join(' ')).not.toContain(KEY);
    expect(argv).toEqual(expect.arrayContaining(['--mon-host', '127.0.0.1:3300', '--id', 'cloudstack']));
    expect(argv.slice(argv.indexOf('--conf'), argv.indexOf('--conf') + 2)).toEqual(['--conf', '/dev/null']);
    expect(readFileSync(`${out()}.mode`, 'utf8').trim()).toBe('600');
    expect(readFileSync(`${out()}.key`, 'utf8')).toBe(KEY);
    expect(existsSync(readFileSync(`${out()}.path`, 'utf8').trim())).toBe(false);
  });

  it.each([
    [13, "rbd: couldn't connect to the cluster!", /cephx authentication failed/],
    [
      110,
      "... handle_auth_bad_method server allowed_methods [2]\nrbd: couldn't connect to the cluster!",
      /cephx authentication failed/,
    ],
    [
      110,
      "monclient(hunting): authenticate timed out after 10\nrbd: couldn't connect to the cluster!",
      /no Ceph monitor answered at 127\.0\.0\.1:3300/,
    ],
    [22, "rbd: couldn't connect to the cluster!", /cephx key of client\.cloudstack is not a valid key/],
    [
      2,
      `rbd: error opening pool 'vms': (2) No such file or directory (key ${KEY})`,
      /rbd ls vms failed: .*No such file/,
    ],
  ])('maps exit %i to a clear message without the key', async (exit, stderr, message) => {
    fail(exit, stderr);
    const err = await new CephCli(access).rbd(['ls', 'vms']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CephCliError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(KEY);
  });
});
