/**
 * First start on an empty data dir: an admin account (user `admin`), a `demo` account (user `demo`)
 * with login passwords (from VMSNAP_ADMIN_PASSWORD / VMSNAP_DEMO_PASSWORD, or generated: the start
 * that generated them prints them once, see `passwordLines`), and a simulator zone with
 * two hosts, file pools (`/sim/...`, the simulator's), an array pool when a storage driver plugin is loaded, and
 * demo VMs (some Running, some Stopped, one with two data disks). The simulator is told about the
 * VMs too, so its own view matches the database from the start.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hashPassword } from '../core/password-hash.ts';
import type { VolumeTO } from '../core/plugin-api.ts';
import { AccountStore, type KeyPair } from '../store/account-store.ts';
import { StoragePoolManager } from '../manager/storage-pool-manager.ts';
import { FILE_DRIVER_NAME } from '../core/file-pool.ts';
import { insertHost } from '../store/host-store.ts';
import { ResourceLimitStore } from '../store/resource-limit-store.ts';
import { insertZone } from '../store/zone-store.ts';
import type { App } from './app.ts';

export interface SeedResult {
  readonly admin: KeyPair;
  readonly demo: KeyPair;
  readonly zoneId: string;
  /** The seeded users' login passwords, and whether this seeding generated each one. */
  readonly passwords: SeededPasswords;
}

/** The seeded users' usernames: stable, documented in the README's quick start. */
export const SEEDED_USERS = { admin: 'admin', demo: 'demo' } as const;

/** Where the seeded passwords come from when they are not generated. */
export const PASSWORD_ENV = { admin: 'VMSNAP_ADMIN_PASSWORD', demo: 'VMSNAP_DEMO_PASSWORD' } as const;

type SeededUser = keyof typeof SEEDED_USERS;

/** Passwords given for the seeded users (the environment); a missing one is generated. */
export type SeedPasswords = Partial<Record<SeededUser, string>>;

export type SeededPasswords = Record<SeededUser, { readonly password: string; readonly generated: boolean }>;

/** The passwords set in the environment (VMSNAP_ADMIN_PASSWORD, VMSNAP_DEMO_PASSWORD). */
export function seedPasswordsFromEnv(env: NodeJS.ProcessEnv): SeedPasswords {
  const out: { -readonly [K in SeededUser]?: string } = {};
  for (const user of Object.keys(PASSWORD_ENV) as SeededUser[]) {
    const value = env[PASSWORD_ENV[user]];
    if (value !== undefined && value !== '') out[user] = value;
  }
  return out;
}

function resolvePasswords(given: SeedPasswords): SeededPasswords {
  // 18 random bytes: 24 URL-safe characters, 144 bits.
  const pick = (value: string | undefined) =>
    value === undefined
      ? { password: randomBytes(18).toString('base64url'), generated: true }
      : { password: value, generated: false };
  return { admin: pick(given.admin), demo: pick(given.demo) };
}

/**
 * What the start that seeded prints about the passwords: the generated ones in full (this once:
 * later starts print nothing of them, and they are never logged), the given ones by their source.
 */
export function passwordLines(passwords: SeededPasswords): string[] {
  const lines = ['login passwords (console and `login` API), printed on this first start only:'];
  for (const user of Object.keys(SEEDED_USERS) as SeededUser[]) {
    const { password, generated } = passwords[user];
    const label = `  user ${SEEDED_USERS[user]}:`.padEnd(14);
    lines.push(generated ? `${label}password ${password}` : `${label}password from ${PASSWORD_ENV[user]}`);
  }
  return lines;
}

interface VmSeed {
  readonly name: string;
  readonly running: boolean;
  readonly hostIndex: 0 | 1;
  readonly disks: readonly { pool: string; sizeGb: number }[];
  readonly memoryMb: number;
  readonly cpus: number;
}

const GiB = 1024 ** 3;
/** CloudStack's resource type 10 (primary storage), whose limits are in GiB. */
const PRIMARY_STORAGE_TYPE = 10;

export async function isSeeded(app: App): Promise<boolean> {
  return new AccountStore(app.deps.db).hasAnyAccount();
}

export async function seed(app: App, adminKeys?: KeyPair, given: SeedPasswords = {}): Promise<SeedResult> {
  const { db } = app.deps;
  const accounts = new AccountStore(db);
  const now = Date.now();
  const passwords = resolvePasswords(given);
  // scrypt is slow by design: both hashes run on libuv's thread pool while the rest is seeded, and
  // are stored at the end (a seeding that fails half-way leaves an unusable data dir either way).
  const hashes = Promise.all([hashPassword(passwords.admin.password), hashPassword(passwords.demo.password)]);
  const admin = await accounts.createAccount(SEEDED_USERS.admin, 'admin', adminKeys, {
    firstname: 'admin',
    lastname: 'cloud',
  });
  const demo = await accounts.createAccount(SEEDED_USERS.demo, 'user', undefined, {
    firstname: 'demo',
    lastname: 'user',
  });
  const zoneId = randomUUID();
  await insertZone(db, { id: zoneId, name: 'sim-zone-1', created: now });
  const hostIds = [randomUUID(), randomUUID()] as const;
  for (const [i, id] of hostIds.entries()) {
    await insertHost(db, {
      id,
      zone_id: zoneId,
      name: `sim-host-${i + 1}`,
      hypervisor: 'Simulator',
      status: 'Up',
      url: null,
      agent_token: null,
      last_heartbeat: now,
      created: now + i,
      removed: null,
    });
  }
  // Pools are created as an operator would (createStoragePool), each checked by its provider.
  const poolSeeds: { name: string; provider: string; url: string }[] = [
    { name: 'sim-primary-1', provider: FILE_DRIVER_NAME, url: 'file:///sim/sim-primary-1' },
    { name: 'sim-primary-2', provider: FILE_DRIVER_NAME, url: 'file:///sim/sim-primary-2' },
  ];
  // The array pool shows the storage path out of the box when the vendor plugin is loaded.
  if (app.deps.registry.storageDrivers.has('vendor-array'))
    poolSeeds.push({ name: 'array-pool-1', provider: 'vendor-array', url: 'vendor-array://array-pool-1' });
  const pools = new Map<string, { id: string; driver: string }>();
  const poolManager = new StoragePoolManager(app.deps);
  for (const p of poolSeeds) {
    const pool = await poolManager.create({
      zoneId,
      name: p.name,
      url: p.url,
      provider: p.provider,
      scope: 'ZONE',
      hostId: null,
      tags: [],
      details: {},
      capacityBytes: 1024 * GiB,
    });
    pools.set(p.name, { id: pool.id, driver: pool.driver });
  }
  const vms: VmSeed[] = [
    {
      name: 'web-1',
      running: true,
      hostIndex: 0,
      memoryMb: 2048,
      cpus: 2,
      disks: [{ pool: 'sim-primary-1', sizeGb: 20 }],
    },
    {
      name: 'db-1',
      running: true,
      hostIndex: 1,
      memoryMb: 8192,
      cpus: 4,
      disks: [
        { pool: 'sim-primary-2', sizeGb: 20 },
        { pool: 'sim-primary-2', sizeGb: 100 },
        { pool: 'sim-primary-1', sizeGb: 200 },
      ],
    },
    {
      name: 'app-1',
      running: false,
      hostIndex: 0,
      memoryMb: 4096,
      cpus: 2,
      disks: [{ pool: 'sim-primary-1', sizeGb: 20 }],
    },
    {
      name: 'batch-1',
      running: false,
      hostIndex: 1,
      memoryMb: 1024,
      cpus: 1,
      disks: [{ pool: 'sim-primary-2', sizeGb: 10 }],
    },
  ];
  if (pools.has('array-pool-1')) {
    vms.push({
      name: 'array-1',
      running: true,
      hostIndex: 0,
      memoryMb: 2048,
      cpus: 2,
      disks: [
        { pool: 'array-pool-1', sizeGb: 20 },
        { pool: 'array-pool-1', sizeGb: 50 },
      ],
    });
  }
  // The demo VMs hold 440 GiB of (simulated) disks, over CloudStack's 200 GiB account default:
  // the demo account gets room to deploy more, as an operator would grant with updateResourceLimit.
  await new ResourceLimitStore(app.deps.db).setLimit(demo.account.id, PRIMARY_STORAGE_TYPE, 2048);
  for (const [n, vm] of vms.entries()) {
    await seedVm(app, {
      zoneId,
      hostId: hostIds[vm.hostIndex],
      accountId: demo.account.id,
      index: n + 1,
      vm,
      pools,
    });
  }
  const [adminHash, demoHash] = await hashes;
  await accounts.setPasswordHash(admin.user.id, adminHash);
  await accounts.setPasswordHash(demo.user.id, demoHash);
  return { admin, demo, zoneId, passwords };
}

async function seedVm(
  app: App,
  s: {
    zoneId: string;
    hostId: string;
    accountId: string;
    index: number;
    vm: VmSeed;
    pools: Map<string, { id: string; driver: string }>;
  },
): Promise<void> {
  const now = Date.now() + s.index;
  const id = randomUUID();
  const instanceName = `i-2-${s.index + 1}-VM`;
  const volumes: VolumeTO[] = s.vm.disks.map((d, i) => {
    const pool = s.pools.get(d.pool);
    if (pool === undefined) throw new Error(`seed names unknown pool ${d.pool}`);
    const volId = randomUUID();
    return {
      id: volId,
      type: i === 0 ? 'ROOT' : 'DATADISK',
      path: `/sim/${d.pool}/${volId}.qcow2`,
      poolId: pool.id,
      format: 'QCOW2',
      size: d.sizeGb * GiB,
      deviceId: i,
    };
  });
  await app.deps.inventory.insertVm(
    {
      id,
      instanceName,
      displayName: s.vm.name,
      state: s.vm.running ? 'Running' : 'Stopped',
      hostId: s.vm.running ? s.hostId : null,
      lastHostId: s.hostId,
      accountId: s.accountId,
      zoneId: s.zoneId,
      hypervisor: 'Simulator',
      memoryMb: s.vm.memoryMb,
      cpus: s.vm.cpus,
      created: now,
    },
    volumes.map((v) => ({
      ...v,
      name: `${v.type}-${s.index + 1}${v.deviceId > 0 ? `-${v.deviceId}` : ''}`,
      state: 'Ready' as const,
    })),
  );
  const agent = await app.agentFor(s.hostId);
  const spec = { name: instanceName, uuid: id, memoryMb: s.vm.memoryMb, cpus: s.vm.cpus, volumes };
  await agent.execute({ kind: 'CreateVM', vm: spec });
  if (s.vm.running) await agent.execute({ kind: 'StartVM', vm: spec });
}
