/**
 * Several management servers, one array (issue 12): with the host's shared store (PluginHost.store,
 * the management database on a server) every server's driver sees the same snapshots, and changes
 * made through two servers at once are all kept (compare-and-set, retried on a race). Before, each
 * server kept its own `<data dir>/vendor-array/<name>.json`, and array-1's snapshots were split.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger, PluginHost, PluginStore, StorageDriver, VolumeInfo } from 'vmsnap/plugin-api';
import { loadPlugins } from '../../../src/plugins/plugin-loader.ts';
import { arrayStateKey } from '../src/index.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A PluginStore in memory, counting the writes it refused (races lost). */
class MemoryPluginStore implements PluginStore {
  readonly docs = new Map<string, { value: string; version: number }>();
  refused = 0;
  /** Reads and writes take a turn of the event loop, as database round trips do: servers interleave. */
  async get(key: string) {
    await new Promise((resolve) => setImmediate(resolve));
    return this.docs.get(key);
  }
  async put(key: string, value: string, expected: number | null): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    if ((this.docs.get(key)?.version ?? null) !== expected) {
      this.refused += 1;
      return false;
    }
    this.docs.set(key, { value, version: (expected ?? 0) + 1 });
    return true;
  }
  async delete(key: string): Promise<boolean> {
    return this.docs.delete(key);
  }
}

/** One management server: its own data dir, the shared store. */
async function server(store: PluginStore): Promise<StorageDriver> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmsnap-data-'));
  dirs.push(dataDir);
  const quiet = (): void => undefined;
  const log: Logger = { info: quiet, warn: quiet, error: quiet, debug: quiet };
  const drivers: StorageDriver[] = [];
  const host: PluginHost = {
    dataDir,
    log,
    store,
    registerStorageDriver: (d) => drivers.push(d),
    registerStrategy: () => undefined,
  };
  await loadPlugins(
    [{ module: './examples/vendor-array-plugin', options: { name: 'array-1', latencyMs: 1 } }],
    host,
    repoRoot,
  );
  const driver = drivers[0];
  if (driver === undefined) throw new Error('no driver registered');
  return driver;
}

function volume(id: string): VolumeInfo {
  return {
    id,
    name: id,
    type: 'ROOT',
    poolId: 'gold',
    driver: 'array-1',
    pool: {
      id: 'gold',
      name: 'gold',
      zoneId: 'zone-1',
      provider: 'array-1',
      url: 'array-1://gold',
      details: {},
      scope: 'ZONE',
      hostId: null,
      path: 'gold',
    },
    format: 'RAW',
    path: `/dev/array/${id}`,
    size: 10,
    deviceId: 0,
  };
}

describe('one array for every management server', () => {
  it('a snapshot cut through one server is listed, found, reverted and deleted through another', async () => {
    const store = new MemoryPluginStore();
    const a = await server(store);
    const b = await server(store);
    const vol = volume('vol-1');
    const taken = await a.takeVolumeSnapshot(vol, { id: 's', name: 's', vmId: 'vm' });
    expect(await b.listVolumeSnapshots(vol)).toEqual([taken.ref]);
    expect(await b.findVmSnapshot?.([vol], { id: 's', name: 's', vmId: 'vm' })).toEqual([
      { volumeId: 'vol-1', ref: taken.ref, size: 10 },
    ]);
    await b.revertVolumeSnapshot(vol, taken);
    await b.deleteVolumeSnapshot(vol, taken);
    expect(await a.listVolumeSnapshots(vol)).toEqual([]);
    expect(store.docs.has(arrayStateKey('array-1'))).toBe(true);
  });

  it('cuts made through two servers at once are all kept, each with its own id', async () => {
    const store = new MemoryPluginStore();
    const servers = [await server(store), await server(store)];
    const vol = volume('vol-1');
    const taken = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        (servers[n % 2] as StorageDriver).takeVolumeSnapshot(vol, { id: `s${n}`, name: `s${n}`, vmId: 'vm' }),
      ),
    );
    const listed = await (servers[0] as StorageDriver).listVolumeSnapshots(vol);
    expect([...listed].sort()).toEqual(taken.map((t) => t.ref).sort());
    expect(new Set(listed).size).toBe(10);
    // The servers did race: some writes were refused and redone on the winner's state.
    expect(store.refused).toBeGreaterThan(0);
  });
});
