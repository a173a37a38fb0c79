/**
 * The hypervisor agent conformance suite against the QEMU host agent, on OS-less VMs. Skipped
 * locally without QEMU, never in CI (describeQemu fails there instead).
 */
import path from 'node:path';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { describeQemu, scratchDir } from '../qemu/helpers.ts';
import { hypervisorAgentSuite } from './hypervisor-agent-suite.ts';

hypervisorAgentSuite(
  'QEMU host agent',
  async () => {
    const scratch = scratchDir('conformance');
    const agent = new QemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir: path.join(scratch.dir, 'pool'),
    });
    await agent.init();
    return {
      agent,
      close: async () => {
        await agent.stopAll();
        scratch.cleanup();
      },
    };
  },
  { describe: describeQemu },
);
