/**
 * The `Storage*` commands keep issue 9's confinement: names from the safe alphabet only, the pool
 * folder inside the agent's pool root (through symlinks too), and a refused command touches nothing.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AgentCommand } from '../../src/core/plugin-api.ts';
import { describeBtrfs } from '../helpers/btrfs.ts';
import { openBtrfsHost, type BtrfsHost } from './btrfs-host.ts';

const HOSTILE_NAMES = [
  '..',
  '../x',
  '../../etc',
  'a/b',
  '/etc',
  '-rf',
  '.hidden',
  '',
  'x'.repeat(129),
  'a\0b',
  'a,b',
];

describeBtrfs('btrfs storage commands refuse hostile names and paths', () => {
  let host: BtrfsHost;
  let outside: string;
  beforeAll(async () => {
    host = await openBtrfsHost('hostile');
    await host.createVm('victim', 1, 1);
    // Outside the agent's pool root, on another file system: where an escape would land.
    outside = mkdtempSync(path.join(os.tmpdir(), 'vmsnap-btrfs-outside-'));
    mkdirSync(path.join(outside, 'vms'));
    symlinkSync(outside, path.join(host.fs.mount, 'escape'));
  }, 60_000);
  afterAll(async () => {
    await host?.close();
    rmSync(outside, { recursive: true, force: true });
  }, 120_000);

  const pool = () => host.pool.path;
  const commands = (name: string): AgentCommand[] => [
    { kind: 'StorageSubvolumeCreate', poolPath: pool(), subvolume: name },
    { kind: 'StorageSubvolumeSnapshot', poolPath: pool(), subvolume: name, snapshot: 's' },
    { kind: 'StorageSubvolumeSnapshot', poolPath: pool(), subvolume: 'victim', snapshot: name },
    { kind: 'StorageSubvolumeList', poolPath: pool(), subvolume: name },
    { kind: 'StorageSubvolumeRestore', poolPath: pool(), subvolume: 'victim', snapshot: name },
    { kind: 'StorageSubvolumeRestore', poolPath: pool(), subvolume: 'victim', snapshot: 's', file: name },
    { kind: 'StorageSubvolumeDelete', poolPath: pool(), subvolume: name },
    { kind: 'StorageSubvolumeDelete', poolPath: pool(), subvolume: 'victim', snapshot: name },
  ];

  it('refuses every name outside the safe alphabet, naming the field', async () => {
    for (const name of HOSTILE_NAMES) {
      for (const command of commands(name)) {
        const answer = await host.agent.execute(command);
        expect(answer, `${command.kind} with ${JSON.stringify(name)}`).toMatchObject({
          result: false,
          details: expect.stringMatching(/^refused field (subvolume|snapshot|file)\b/),
        });
      }
    }
  });

  it('refuses a pool folder outside the pool root, directly, by climbing or through a symlink', async () => {
    const escapes = ['/etc', path.join(host.fs.mount, 'escape'), path.join(host.fs.mount, 'escape', 'vms')];
    for (const poolPath of escapes) {
      for (const command of [
        { kind: 'StorageFsStats', poolPath },
        { kind: 'StorageSubvolumeCreate', poolPath, subvolume: 'vm9' },
        { kind: 'StorageSubvolumeDelete', poolPath, subvolume: 'victim' },
      ] as AgentCommand[]) {
        const answer = await host.agent.execute(command);
        expect(answer, `${command.kind} on ${poolPath}`).toMatchObject({
          result: false,
          details: expect.stringMatching(/^refused field poolPath\b/),
        });
      }
    }
    const climbing = await host.agent.execute({
      kind: 'StorageSubvolumeCreate',
      poolPath: `${host.fs.mount}/../../etc`,
      subvolume: 'vm9',
    });
    expect(climbing).toMatchObject({
      result: false,
      details: expect.stringMatching(/^refused field poolPath\b/),
    });
    expect(readdirSync(path.join(outside, 'vms'))).toEqual([]);
    expect(existsSync(path.join(host.pool.path, 'vms', 'victim'))).toBe(true);
  });
});
