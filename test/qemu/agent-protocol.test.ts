/**
 * The agent protocol's schemas (issue 9, item 2): what the agent admits, what the management server
 * believes of an answer, and QEMU's command line refusing what is not a number. No QEMU needed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAgentAnswer } from '../../src/hypervisors/qemu/agent-protocol/answers.ts';
import { parseAgentCommand } from '../../src/hypervisors/qemu/agent-protocol/commands.ts';
import { HttpAgentClient } from '../../src/agent-client/http-agent-client.ts';
import { qemuArgs, type VmProcessSpec } from '../../src/hypervisors/qemu/vm-process.ts';
import type { AgentCommand } from '../../src/core/plugin-api.ts';
import { createSnap, deleteSnap, revertSnap, snapTO, vmSpec } from './agent-fixtures.ts';

function refusedField(body: unknown): string | null {
  const checked = parseAgentCommand(body);
  return checked.ok ? null : checked.field;
}

describe('agent commands: the schema admits what the server sends', () => {
  const vm = vmSpec('i-2-3-VM');
  const valid: AgentCommand[] = [
    { kind: 'CreateVM', vm },
    { kind: 'CreateVM', vm, poolPath: '/var/lib/vmsnap/pool' },
    { kind: 'StartVM', vm },
    { kind: 'StopVM', vmName: vm.name, force: false },
    { kind: 'DestroyVM', vmName: vm.name },
    createSnap(vm, 'i-2-3-VM_VS_20240101120000', 'DiskAndMemory', {
      memoryMode: 'live',
      freezeBudgetMs: 10_000,
    }),
    revertSnap(vm, 's1'),
    deleteSnap(vm, 's1'),
    { kind: 'CheckVMSnapshot', vmName: vm.name, target: snapTO('s1'), revertRequestId: 'job-1' },
    { kind: 'FreezeThaw', vmName: vm.name, option: 'freeze', budgetMs: 5000 },
    { kind: 'GuestPing', vmName: vm.name },
    { kind: 'GetVmStates' },
    { kind: 'GetInventory' },
    { kind: 'Ping' },
  ];
  it.each(valid.map((c) => [c.kind, c] as const))('admits %s', (_kind, command) => {
    const checked = parseAgentCommand(command);
    expect(checked).toEqual({ ok: true, value: command });
  });
});

describe('agent commands: hostile fields are refused, and the refusal names the field', () => {
  const vm = vmSpec('vm1');
  const withParent = { ...snapTO('child'), parent: { ...snapTO('../parent'), parent: null } };
  const cases: [string, unknown, string][] = [
    [
      'a VM name that climbs out of the pool',
      { kind: 'CreateVM', vm: { ...vm, name: '../../../../outside/x' } },
      'vm.name',
    ],
    ['a VM name with a slash', { kind: 'StartVM', vm: { ...vm, name: 'a/b' } }, 'vm.name'],
    [
      'a VM name with a comma (a QEMU option)',
      { kind: 'StartVM', vm: { ...vm, name: 'x,debug-threads=on' } },
      'vm.name',
    ],
    ['a VM name starting with a dash', { kind: 'StopVM', vmName: '-x', force: true }, 'vmName'],
    ['a VM name of ".."', { kind: 'DestroyVM', vmName: '..' }, 'vmName'],
    ['a VM name containing ".."', { kind: 'DestroyVM', vmName: 'a..b' }, 'vmName'],
    ['a NUL in a name', { kind: 'GuestPing', vmName: 'a\0b' }, 'vmName'],
    ['a 129-character name', { kind: 'GuestPing', vmName: 'a'.repeat(129) }, 'vmName'],
    ['a snapshot name with ../', createSnapWith({ target: snapTO('../../outside/s') }), 'target.name'],
    ['a parent snapshot name with ../', createSnapWith({ target: withParent }), 'target.parent.name'],
    ['a VM uuid that is not a UUID', { kind: 'CreateVM', vm: { ...vm, uuid: 'x,y' } }, 'vm.uuid'],
    [
      'a volume id that is not a UUID',
      { kind: 'CreateVM', vm: { ...vm, volumes: [{ ...vm.volumes[0], id: '../v' }] } },
      'vm.volumes.0.id',
    ],
    [
      'a relative volume path',
      { kind: 'CreateVM', vm: { ...vm, volumes: [{ ...vm.volumes[0], path: 'x/../../y' }] } },
      'vm.volumes.0.path',
    ],
    [
      'a volume path with ..',
      createSnapWith({ volumes: [{ ...vm.volumes[0], path: '/pool/../etc/passwd' }] }),
      'volumes.0.path',
    ],
    ['a relative poolPath', { kind: 'CreateVM', vm, poolPath: 'pool' }, 'poolPath'],
    [
      'a poolPath with ..',
      { kind: 'CreateVM', vm, poolPath: '/var/lib/vmsnap/pool/../../../etc' },
      'poolPath',
    ],
    [
      'memoryMb as a QEMU option string',
      { kind: 'CreateVM', vm: { ...vm, memoryMb: '64,maxmem=1G,slots=2' } },
      'vm.memoryMb',
    ],
    ['memoryMb as a numeric string', { kind: 'StartVM', vm: { ...vm, memoryMb: '64' } }, 'vm.memoryMb'],
    ['memoryMb fractional', { kind: 'StartVM', vm: { ...vm, memoryMb: 64.5 } }, 'vm.memoryMb'],
    ['memoryMb above 1 TiB', { kind: 'StartVM', vm: { ...vm, memoryMb: 2 * 1024 * 1024 } }, 'vm.memoryMb'],
    ['cpus zero', { kind: 'StartVM', vm: { ...vm, cpus: 0 } }, 'vm.cpus'],
    [
      'a negative disk size',
      { kind: 'CreateVM', vm: { ...vm, volumes: [{ ...vm.volumes[0], size: -1 }] } },
      'vm.volumes.0.size',
    ],
    [
      'a device id past the last slot',
      { kind: 'CreateVM', vm: { ...vm, volumes: [{ ...vm.volumes[0], deviceId: 64 }] } },
      'vm.volumes.0.deviceId',
    ],
    [
      'a freeze budget of a week',
      { kind: 'FreezeThaw', vmName: 'vm1', option: 'freeze', budgetMs: 7 * 86_400_000 },
      'budgetMs',
    ],
    ['an unknown kind', { kind: 'RunShell', command: 'id' }, 'kind'],
    ['no body', null, '(body)'],
  ];
  it.each(cases)('refuses %s', (_what, body, field) => {
    expect(refusedField(body)).toBe(field);
  });

  it('admits a chain of 1000 parents, and measures a hostile one without recursing into it', () => {
    const chain = (length: number): unknown => {
      let target: unknown = null;
      for (let i = 0; i <= length; i++) target = { ...snapTO(`s${i}`), parent: target };
      return target;
    };
    expect(refusedField(createSnapWith({ target: chain(1000) }))).toBeNull();
    expect(refusedField(createSnapWith({ target: chain(1001) }))).toBe('target.parent');
    expect(refusedField(createSnapWith({ target: chain(100_000) }))).toBe('target.parent');
  });

  it('never repeats the refused value in the error', () => {
    const checked = parseAgentCommand({ kind: 'DestroyVM', vmName: '../../secret-name' });
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.error).not.toContain('secret-name');
  });

  function createSnapWith(fields: Record<string, unknown>): unknown {
    return { ...createSnap(vm, 's1'), ...fields };
  }
});

describe('agent answers: the management server believes only well-formed answers', () => {
  const vmUuid = '0b7f1c9e-5a9d-4c1e-8f7a-2d3c4b5a6f70';
  const volume = { id: vmUuid, path: '/pool/vm1-vd0.qcow2', size: 1024 };

  it('parses real answers, failures included, and drops unknown keys', () => {
    expect(parseAgentAnswer('CreateVM', { result: true, volumes: [volume], extra: 1 })).toEqual({
      ok: true,
      value: { result: true, volumes: [volume] },
    });
    expect(parseAgentAnswer('DestroyVM', { result: false, details: 'no such VM' })).toMatchObject({
      ok: true,
    });
    expect(
      parseAgentAnswer('CheckVMSnapshot', {
        result: true,
        exists: true,
        revertApplied: true,
        powerState: 'PowerOn',
      }),
    ).toMatchObject({ ok: true, value: { revertApplied: true } });
    // JSON turns a NaN timing into null: a missing timing, not a broken answer.
    expect(
      parseAgentAnswer('CreateVMSnapshot', {
        result: true,
        volumes: [volume],
        timings: { pauseMs: null, totalMs: 3 },
      }),
    ).toEqual({
      ok: true,
      value: { result: true, volumes: [volume], timings: { pauseMs: undefined, totalMs: 3 } },
    });
  });

  it.each([
    [
      'a VM name with a path in it',
      'GetVmStates',
      { result: true, vms: [{ name: '../x', powerState: 'PowerOn' }] },
      'vms.0.name',
    ],
    ['a negative size', 'CreateVM', { result: true, volumes: [{ ...volume, size: -5 }] }, 'volumes.0.size'],
    [
      // A bare name is an RBD image's (issue 11); a relative path with a folder is nothing.
      'a relative volume path',
      'CreateVM',
      { result: true, volumes: [{ ...volume, path: 'pool/x.qcow2' }] },
      'volumes.0.path',
    ],
    [
      'memory as a string',
      'GetInventory',
      {
        result: true,
        pools: [],
        vms: [
          { name: 'v', uuid: vmUuid, memoryMb: '64,maxmem=1G', cpus: 1, powerState: 'PowerOn', volumes: [] },
        ],
      },
      'vms.0.memoryMb',
    ],
    ['a success without its payload', 'StartVM', { result: true }, 'powerState'],
    ['no result at all', 'Ping', { hypervisor: 'KVM' }, 'result'],
  ] as const)('refuses %s', (_what, kind, body, field) => {
    expect(parseAgentAnswer(kind, body)).toMatchObject({ ok: false, field });
  });

  describe('through HttpAgentClient', () => {
    let server: http.Server | undefined;
    afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('throws on a malformed answer instead of handing it to the manager', async () => {
      // A rogue agent: a VM "created" with its disk outside any pool, and a size that is no number.
      server = http.createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({ result: true, volumes: [{ id: vmUuid, path: '/etc/shadow', size: '1e9,0x10' }] }),
        );
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const client = new HttpAgentClient({ url: `http://127.0.0.1:${port}`, token: 't' });
      await expect(client.execute({ kind: 'CreateVM', vm: vmSpec('vm1') })).rejects.toThrow(
        /volumes\.0\.size/,
      );
    });
  });
});

describe("QEMU's command line: numbers only, checked where argv is built", () => {
  const spec: VmProcessSpec = {
    name: 'vm1',
    uuid: '0b7f1c9e-5a9d-4c1e-8f7a-2d3c4b5a6f70',
    memoryMb: 64,
    cpus: 1,
    disks: [{ deviceId: 0, file: '/pool/vm1-vd0.qcow2' }],
    runDir: '/state/run',
    accel: 'tcg',
  };

  it('builds -m from an integer', () => {
    const args = qemuArgs(spec);
    expect(args[args.indexOf('-m') + 1]).toBe('64');
  });

  it.each([
    ['memoryMb "64,maxmem=1G,slots=2"', { memoryMb: '64,maxmem=1G,slots=2' as unknown as number }],
    ['memoryMb 64.5', { memoryMb: 64.5 }],
    ['cpus "1,maxcpus=512"', { cpus: '1,maxcpus=512' as unknown as number }],
    ['a name with a comma', { name: 'vm1,debug-threads=on' }],
    ['a disk path with a comma', { disks: [{ deviceId: 0, file: '/pool/a,read-only=off.qcow2' }] }],
  ])('refuses %s', (_what, change) => {
    expect(() => qemuArgs({ ...spec, ...change })).toThrow(/refusing to start QEMU/);
  });
});
