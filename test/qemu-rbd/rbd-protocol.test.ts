/**
 * RBD volumes in the agent protocol and on QEMU's command line, and the strategy choice for VMs on
 * RBD. No QEMU or Ceph needed: these run everywhere.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  StrategyPriority,
  type CanHandleInput,
  type StoragePoolInfo,
  type VmSpecTO,
  type VolumeInfo,
} from '../../src/core/plugin-api.ts';
import { parseAgentAnswer } from '../../src/hypervisors/qemu/agent-protocol/answers.ts';
import { parseAgentCommand } from '../../src/hypervisors/qemu/agent-protocol/commands.ts';
import { qemuArgs, type VmProcessSpec } from '../../src/hypervisors/qemu/vm-process.ts';
import { HypervisorVmSnapshotStrategy } from '../../src/strategies/hypervisor-strategy.ts';
import { testPoolInfo } from '../helpers/pool-info.ts';
import { makeVm } from '../storage/fake-strategy-context.ts';
import { consistentCut } from './ordered-writer.ts';

const KEY = 'AQCA4w5rAbImOBAAKuJEM3Z/POVL2rQ8Ir0l4Q==';
const URL = `rbd://admin:${encodeURIComponent(KEY)}@10.0.0.1:6789,[fd00::1]:3300/rbd`;

function rbdVm(overrides: Record<string, unknown> = {}): VmSpecTO {
  return {
    name: 'i-2-3-VM',
    uuid: randomUUID(),
    memoryMb: 64,
    cpus: 1,
    volumes: [
      {
        id: randomUUID(),
        type: 'ROOT',
        path: 'i-2-3-VM-vd0',
        poolId: 'ceph1',
        format: 'RAW',
        size: 1 << 20,
        deviceId: 0,
        pool: { provider: 'ceph-rbd', url: URL, path: 'rbd' },
        ...overrides,
      },
    ],
  };
}

describe('agent protocol: RBD volumes', () => {
  it('admits an RBD volume: an image name as its path and a well-formed pool url', () => {
    const command = { kind: 'StartVM' as const, vm: rbdVm() };
    expect(parseAgentCommand(command)).toEqual({ ok: true, value: command });
    const atCreate = { kind: 'CreateVM' as const, vm: rbdVm({ path: '' }) };
    expect(parseAgentCommand(atCreate).ok).toBe(true);
  });

  const pool = (url: string, path = 'rbd') => ({ pool: { provider: 'ceph-rbd', url, path } });
  const key = encodeURIComponent(KEY);
  const cases: [string, Record<string, unknown>, string][] = [
    ['an image name with a slash', { path: 'rbd/../x' }, 'vm.volumes.0.path'],
    ['an image name with a comma (a QEMU option)', { path: 'img,file=/etc/passwd' }, 'vm.volumes.0.path'],
    ['an absolute path for an RBD image', { path: '/var/lib/x.qcow2' }, 'vm.volumes.0.path'],
    ['a monitor with a comma-borne option', pool(`rbd://admin:${key}@h:1=2/rbd`), 'vm.volumes.0.pool.url'],
    ['a monitor port out of range', pool(`rbd://admin:${key}@h:70000/rbd`), 'vm.volumes.0.pool.url'],
    ['a user that is a flag', pool(`rbd://-x:${key}@h:6789/rbd`), 'vm.volumes.0.pool.url'],
    ['a user with an option', pool(`rbd://admin,conf=x:${key}@h:6789/rbd`), 'vm.volumes.0.pool.url'],
    ['a key that is not base64', pool(`rbd://admin:not%20a%20key!@h:6789/rbd`), 'vm.volumes.0.pool.url'],
    [
      'a pool name with an option',
      pool(`rbd://admin:${key}@h:6789/rbd,x=y`, 'rbd,x=y'),
      'vm.volumes.0.pool.url',
    ],
    ['a pool path other than the url’s pool', pool(URL, 'other'), 'vm.volumes.0.pool.path'],
    ['no rbd:// scheme', pool(`http://admin:${key}@h:6789/rbd`), 'vm.volumes.0.pool.url'],
  ];
  it.each(cases)('refuses %s, naming the field and never the key', (_what, override, field) => {
    const checked = parseAgentCommand({ kind: 'StartVM', vm: rbdVm(override) });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.field).toBe(field);
    expect(checked.error).not.toContain(KEY);
    expect(checked.error).not.toContain(key);
  });

  it('keeps refusing a file path outside the rules for volumes without an RBD pool', () => {
    const file = { pool: undefined, path: 'relative/disk.qcow2' };
    const checked = parseAgentCommand({ kind: 'StartVM', vm: rbdVm(file) });
    expect(checked.ok ? null : checked.field).toBe('vm.volumes.0.path');
  });

  it('believes an image name in answers, and an RBD pool only with its provider', () => {
    const created = parseAgentAnswer('CreateVM', {
      result: true,
      volumes: [{ id: randomUUID(), path: 'i-2-3-VM-vd0', size: 1 }],
    });
    expect(created.ok).toBe(true);
    const pool = { name: 'rbd:h:6789/rbd', path: 'rbd', capacityBytes: 0, usedBytes: 0 };
    const withProvider = parseAgentAnswer('GetInventory', {
      result: true,
      vms: [],
      pools: [{ ...pool, provider: 'ceph-rbd' }],
    });
    expect(withProvider.ok).toBe(true);
    const folderWithoutSlash = parseAgentAnswer('GetInventory', { result: true, vms: [], pools: [pool] });
    expect(folderWithoutSlash.ok ? null : folderWithoutSlash.field).toBe('pools.0.path');
  });
});

describe('QEMU command line of an RBD disk', () => {
  const spec: VmProcessSpec = {
    name: 'i-2-3-VM',
    uuid: randomUUID(),
    memoryMb: 64,
    cpus: 1,
    runDir: '/run/vmsnap',
    accel: 'tcg',
    disks: [
      {
        deviceId: 0,
        file: 'i-2-3-VM-vd0',
        rbd: {
          monitors: [
            { host: '10.0.0.1', port: 6789 },
            { host: 'fd00::1', port: 3300 },
          ],
          user: 'admin',
          key: KEY,
          pool: 'rbd',
          image: 'i-2-3-VM-vd0',
          secretFile: '/run/vmsnap/i-2-3-VM-vd0.secret',
        },
      },
    ],
  };

  it('opens the image with the rbd driver, the key as a secret object read from a file', () => {
    const args = qemuArgs(spec);
    expect(args.some((a) => a.includes(KEY))).toBe(false);
    expect(args).toContain('secret,id=d0-key,file=/run/vmsnap/i-2-3-VM-vd0.secret,format=base64');
    expect(args).toContain(
      'driver=rbd,node-name=d0r,pool=rbd,image=i-2-3-VM-vd0,server.0.host=10.0.0.1,server.0.port=6789,' +
        'server.1.host=fd00::1,server.1.port=3300,user=admin,key-secret=d0-key,discard=unmap',
    );
    expect(args).toContain('driver=raw,node-name=d0,file=d0r,discard=unmap');
    expect(args.join(' ')).not.toContain('qcow2');
  });

  it('refuses RBD names that would add QEMU options', () => {
    const disk = spec.disks[0]!;
    const bad = {
      ...spec,
      disks: [{ ...disk, rbd: { ...disk.rbd!, image: 'x,file.filename=/etc/shadow' } }],
    };
    expect(() => qemuArgs(bad)).toThrow(/RBD name/);
  });
});

describe('strategy choice for VMs on RBD', () => {
  const hypervisor = new HypervisorVmSnapshotStrategy();
  const rbdPool: StoragePoolInfo = { ...testPoolInfo('ceph-rbd'), url: URL, path: 'rbd' };
  const filePool: StoragePoolInfo = { ...testPoolInfo('file'), url: 'file:///var/lib/vmsnap/pool' };
  const volume = (pool: StoragePoolInfo, i: number): VolumeInfo => ({
    id: `v${i}`,
    name: `v${i}`,
    type: i === 0 ? 'ROOT' : 'DATADISK',
    poolId: pool.id,
    driver: pool.provider,
    format: 'RAW',
    path: `img${i}`,
    size: 1,
    deviceId: i,
    pool,
  });
  const input = (pools: StoragePoolInfo[], type: CanHandleInput['type'], hv = 'KVM' as const) => ({
    vm: makeVm({ hypervisor: hv }),
    volumes: pools.map(volume),
    type,
    quiesce: false,
    drivers: new Map(),
  });

  it('leaves disk-only snapshots of RBD VMs to the storage strategy (no qcow2 overlays on RBD)', () => {
    expect(hypervisor.canHandle(input([rbdPool, rbdPool], 'Disk'))).toBe(StrategyPriority.CANT_HANDLE);
  });
  it('takes memory snapshots of VMs whose volumes are all on RBD', () => {
    expect(hypervisor.canHandle(input([rbdPool, rbdPool], 'DiskAndMemory'))).toBe(StrategyPriority.DEFAULT);
  });
  it('declines a VM mixing files and RBD images, and keeps file VMs and the simulator', () => {
    expect(hypervisor.canHandle(input([filePool, rbdPool], 'DiskAndMemory'))).toBe(
      StrategyPriority.CANT_HANDLE,
    );
    expect(hypervisor.canHandle(input([filePool], 'Disk'))).toBe(StrategyPriority.DEFAULT);
    expect(hypervisor.canHandle(input([rbdPool], 'Disk', 'Simulator' as 'KVM'))).toBe(
      StrategyPriority.DEFAULT,
    );
  });
});

describe('the ordered-writer check', () => {
  it.each([
    [[5, 5, 4, 4], true],
    [[5, 5, 5, 5], true],
    [[0, 0, 255, 255], true],
    [[4, 5, 5, 5], false],
    [[5, 4, 5, 4], false],
    [[5, 3, 3, 3], false],
  ])('%j consistent: %s', (values, ok) => {
    expect(consistentCut(values)).toBe(ok);
  });
});
