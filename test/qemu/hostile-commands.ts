/**
 * fast-check generators of agent commands that are valid except for (at most) one hostile field:
 * a name that climbs out of the pool, a path outside it or through a planted link, a number that
 * is a QEMU option string ... One field at a time, so the hostile value reaches the handler on an
 * agent that does not check (the old one), instead of being masked by another broken field.
 *
 * VMs named `c…` may be created, and `c1`..`c3` snapshotted, reverted and destroyed (all without a QEMU
 * process); StartVM only names `n1`/`n2`, which are never created, so no generated command boots
 * a VM on an agent that checks its commands.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { MIB, snapTO } from './agent-fixtures.ts';

export interface AgentRoots {
  readonly pool: string;
  readonly state: string;
  /** A folder outside both roots, where the pool's planted links point. */
  readonly outside: string;
}

export const CLIMB = '../../../../outside/x';

type Json = Record<string, unknown>;

/** One field the generator may spoil, by its path in the command, and what it spoils it with. */
interface Mutation {
  readonly at: readonly (string | number)[];
  readonly with: fc.Arbitrary<unknown>;
}

function setIn(command: Json, at: readonly (string | number)[], value: unknown): Json {
  const copy = structuredClone(command);
  let node: Record<string | number, unknown> = copy;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[at[at.length - 1]!] = value;
  return copy;
}

/** The valid command, or the same with one of `mutations` applied. */
function oneFieldSpoilt(valid: fc.Arbitrary<Json>, mutations: readonly Mutation[]): fc.Arbitrary<Json> {
  return fc.oneof(
    valid,
    ...mutations.map((m) => fc.tuple(valid, m.with).map(([command, bad]) => setIn(command, m.at, bad))),
  );
}

export function hostileCommandArb(roots: AgentRoots): fc.Arbitrary<Json> {
  const { pool, state, outside } = roots;
  const hostileName = fc.oneof(
    fc.constantFrom(CLIMB, '../x', 'escape/../../outside/z', '/abs', 'a/b', '..', '.', '', '-rf'),
    fc.constantFrom('a,b', 'x\u0000y', 'a'.repeat(200), 'ü', 7, null),
    fc.string({ maxLength: 10 }),
  );
  const hostileUuid = fc.constantFrom('x', '../x', '', 1, `${randomUUID()},x`);
  const hostilePath = fc.constantFrom(
    path.join(outside, 'abs.qcow2'),
    path.join(outside, 'victim.qcow2'),
    outside,
    path.join(pool, 'escape', 'v.qcow2'),
    path.join(pool, 'escape'),
    path.join(pool, 'escape', 'sub'),
    path.join(pool, 'planted-vd0.qcow2'),
    path.join(state, 'qemu-agent-state.json'),
    path.join(state, 'run'),
    state,
    '/etc/passwd',
    'relative.qcow2',
    `${pool}/../x.qcow2`,
  );
  const oddNumber = fc.oneof(
    fc.double(),
    fc.integer({ min: -5, max: 0 }),
    fc.constantFrom('64,maxmem=1G,slots=2', '64', null, 1e12, Number.MAX_SAFE_INTEGER + 2),
  );

  const uuid = fc.constantFrom(randomUUID(), randomUUID());
  const created = fc.constantFrom('c1', 'c2', 'c3');
  const anyVm = fc.constantFrom('c1', 'c2', 'c3', 'n1', 'n2');
  const inPool = fc.stringMatching(/^[a-z]{1,6}$/).map((n) => path.join(pool, n));
  const volume = (deviceId: number, filePath: fc.Arbitrary<string>) =>
    fc.record({
      id: uuid,
      type: fc.constant(deviceId === 0 ? 'ROOT' : 'DATADISK'),
      path: filePath,
      poolId: fc.constant('pool'),
      format: fc.constant('QCOW2'),
      size: fc.integer({ min: 0, max: 64 * MIB }),
      deviceId: fc.constant(deviceId),
    });
  const newDiskPath = fc.oneof(
    fc.constant(''),
    inPool.map((p) => `${p}.qcow2`),
  );
  const vmSpec = (name: fc.Arbitrary<string>) =>
    fc.record({
      name,
      uuid,
      memoryMb: fc.integer({ min: 1, max: 4096 }),
      cpus: fc.integer({ min: 1, max: 8 }),
      volumes: fc.tuple(volume(0, newDiskPath), volume(1, newDiskPath)),
    });
  const specMutations = (at: string): Mutation[] => [
    { at: [at, 'name'], with: hostileName },
    { at: [at, 'uuid'], with: hostileUuid },
    { at: [at, 'memoryMb'], with: oddNumber },
    { at: [at, 'cpus'], with: oddNumber },
    { at: [at, 'volumes', 0, 'path'], with: hostilePath },
    { at: [at, 'volumes', 1, 'path'], with: hostilePath },
    { at: [at, 'volumes', 0, 'id'], with: hostileUuid },
    { at: [at, 'volumes', 0, 'size'], with: oddNumber },
    { at: [at, 'volumes', 1, 'deviceId'], with: oddNumber },
  ];

  const target = fc.record({ name: fc.constantFrom('s1', 's2') }).map((t) => ({ ...snapTO(t.name) }));
  const snapshotCommand = (kind: string, extra: Json = {}) =>
    oneFieldSpoilt(
      fc
        .record({ vmName: created, vmUuid: uuid, target, volumes: fc.tuple(volume(0, inPool)) })
        .map((c) => ({ kind, ...c, ...extra })),
      [
        { at: ['vmName'], with: hostileName },
        { at: ['vmUuid'], with: hostileUuid },
        { at: ['target', 'name'], with: hostileName },
        { at: ['target', 'id'], with: hostileUuid },
        { at: ['target', 'parent'], with: hostileName.map((n) => ({ ...snapTO('p'), name: n })) },
        { at: ['target', 'createdAt'], with: oddNumber },
        { at: ['volumes', 0, 'path'], with: hostilePath },
      ],
    );
  const byName = (kind: string, extra: Json = {}) =>
    oneFieldSpoilt(
      anyVm.map((vmName) => ({ kind, vmName, ...extra })),
      [{ at: ['vmName'], with: hostileName }],
    );

  // Mostly fresh names: a CreateVM of a name already taken fails before it touches any file.
  const toCreate = fc.oneof(created, fc.stringMatching(/^c[a-z0-9]{5,8}$/));
  const createVm = oneFieldSpoilt(
    vmSpec(toCreate).map((vm) => ({ kind: 'CreateVM', vm })),
    specMutations('vm'),
  );
  const createVmInPool = oneFieldSpoilt(
    fc.record({ vm: vmSpec(toCreate), poolPath: fc.oneof(fc.constant(pool), inPool) }).map((c) => ({
      kind: 'CreateVM',
      ...c,
    })),
    [{ at: ['poolPath'], with: hostilePath }],
  );
  return fc.oneof(
    { arbitrary: createVm, weight: 4 },
    { arbitrary: createVmInPool, weight: 2 },
    oneFieldSpoilt(
      vmSpec(fc.constantFrom('n1', 'n2')).map((vm) => ({ kind: 'StartVM', vm })),
      specMutations('vm').filter((m) => m.at[1] !== 'name'),
    ),
    byName('StopVM', { force: true }),
    byName('DestroyVM'),
    snapshotCommand('CreateVMSnapshot', { quiesce: false }),
    snapshotCommand('RevertToVMSnapshot'),
    snapshotCommand('DeleteVMSnapshot'),
    snapshotCommand('CheckVMSnapshot'),
    byName('FreezeThaw', { option: 'status' }),
    byName('GuestPing'),
    fc.constantFrom({ kind: 'Ping' }, { kind: 'GetVmStates' }, { kind: 'GetInventory' }, { kind: 'Nope' }),
  );
}
