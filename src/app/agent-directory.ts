/**
 * Which agent serves a host: the in-process simulator, or the host's own agent over HTTP(S), its
 * certificate pinned when it was added. A host's agent never changes kind, address or pin, so each
 * is resolved once.
 */
import type { HypervisorAgent } from '../core/plugin-api.ts';
import { HttpAgentClient } from '../agent-client/http-agent-client.ts';
import type { SimulatorWorld } from '../hypervisors/simulator/index.ts';
import type { InventoryStore } from '../store/inventory-store.ts';

export class AgentDirectory {
  private readonly agents = new Map<string, HypervisorAgent>();

  constructor(
    private readonly inventory: InventoryStore,
    private readonly simulator: SimulatorWorld,
  ) {}

  async agentFor(hostId: string): Promise<HypervisorAgent> {
    const cached = this.agents.get(hostId);
    if (cached !== undefined) return cached;
    const host = await this.inventory.getHost(hostId);
    if (host === undefined) throw new Error(`host ${hostId} is not found`);
    let agent: HypervisorAgent;
    if (host.hypervisor === 'Simulator') {
      agent = this.simulator.agentFor(host.id, host.zoneId);
    } else {
      if (host.url === null || host.agentToken === null)
        throw new Error(`host ${host.name} has no agent url`);
      // The gateway applies each command's own timeout; the client's is only a backstop.
      // A pinned host is reached over https with its certificate checked on every connection; the
      // client refuses to send the token of a pinned host over anything else.
      agent = new HttpAgentClient({
        url: host.url,
        token: host.agentToken,
        tlsFingerprint: host.tlsFingerprint,
        timeoutMs: 3 * 3600_000,
      });
    }
    this.agents.set(host.id, agent);
    return agent;
  }
}
