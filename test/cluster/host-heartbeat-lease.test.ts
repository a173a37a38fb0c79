/**
 * Issue 12, item 2 (hosts): each host agent is heartbeated by one management server at a time. Every
 * server used to ping and import every host on every beat. Now a beat first takes or renews the
 * host's heartbeat lease; a host whose lease another live server holds is left to it, and the lease
 * passes to the next server that beats once its holder stops renewing (died) or gave it back
 * (stopped). The clock (Date) is fake, so the lease's end is exact.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentCommand, AnswerFor } from '../../src/core/plugin-api.ts';
import { insertHost } from '../../src/store/host-store.ts';
import { heartbeatOwner, releaseHeartbeatLeases } from '../../src/store/host-lease-store.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const LEASE_MS = 30_000;

describe('host heartbeat lease', () => {
  let t: TestApp;
  let hostId: string;
  /** The server each Ping was sent for. */
  const pings: string[] = [];
  let beating = '';

  beforeEach(async () => {
    t = await openTestApp({ heartbeatIntervalMs: 3_600_000 });
    const zone = (await t.app.apiServices.zones.list())[0]!;
    hostId = randomUUID();
    await insertHost(t.app.deps.db, {
      id: hostId,
      zone_id: zone.id,
      name: 'kvm-1',
      hypervisor: 'KVM',
      status: 'Up',
      url: 'http://127.0.0.1:9/',
      agent_token: 'token',
      last_heartbeat: Date.now(),
      created: Date.now(),
      removed: null,
      tls_fingerprint: null,
    });
    // The agent answers Ping and an empty inventory; each Ping is counted for the server that beat.
    const gateway = t.app.deps.agents;
    gateway.send = async <C extends AgentCommand>(id: string, command: C): Promise<AnswerFor<C>> => {
      if (id !== hostId) throw new Error(`unexpected host ${id}`);
      if (command.kind === 'Ping') {
        pings.push(beating);
        return { result: true, details: '', hypervisor: 'KVM' } as unknown as AnswerFor<C>;
      }
      return { result: true, details: '', vms: [], pools: [] } as unknown as AnswerFor<C>;
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_000_000);
  });
  afterEach(async () => {
    vi.useRealTimers();
    pings.length = 0;
    await t.close();
  });

  async function beat(server: string): Promise<void> {
    beating = server;
    await t.app.hostManager.heartbeatAll(t.admin.accountId, { owner: server, leaseMs: LEASE_MS });
  }

  it('one server beats a host while it renews; another takes over only once the lease ran out', async () => {
    await beat('server-a');
    await beat('server-b');
    await beat('server-a');
    expect(pings).toEqual(['server-a', 'server-a']);
    expect(await heartbeatOwner(t.app.deps.db, hostId)).toBe('server-a');

    // A dies after its last beat: B is refused until the lease ends, then takes the host over.
    vi.setSystemTime(Date.now() + LEASE_MS);
    await beat('server-b');
    expect(pings).toEqual(['server-a', 'server-a']);
    vi.setSystemTime(Date.now() + 1);
    await beat('server-b');
    await beat('server-a');
    expect(pings).toEqual(['server-a', 'server-a', 'server-b']);
    expect(await heartbeatOwner(t.app.deps.db, hostId)).toBe('server-b');
  });

  it('a server that stops hands its hosts over at once', async () => {
    await beat('server-a');
    await releaseHeartbeatLeases(t.app.deps.db, 'server-a');
    await beat('server-b');
    expect(pings).toEqual(['server-a', 'server-b']);
    expect(await heartbeatOwner(t.app.deps.db, hostId)).toBe('server-b');
  });

  it("the App's heartbeat beats under its server id (the job queue's owner id)", async () => {
    await t.app.heartbeat();
    expect(pings).toHaveLength(1);
    expect(await heartbeatOwner(t.app.deps.db, hostId)).toBe(t.app.deps.jobs.ownerId);
  });
});
