/** The hypervisor agent conformance suite against the simulator's agent. */
import { SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import { hypervisorAgentSuite } from './hypervisor-agent-suite.ts';

hypervisorAgentSuite('simulator', async () => {
  const world = new SimulatorWorld();
  return {
    agent: world.agentFor('host-1', 'zone-1'),
    close: async () => world.dispose(),
  };
});
