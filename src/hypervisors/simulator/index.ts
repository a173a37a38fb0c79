/** The simulator hypervisor: simulated hosts with durable VM and snapshot state, guest agents and faults. */
export { SimulatorAgent } from './simulator-agent.ts';
export type { SimulatorAgentOptions } from './simulator-agent.ts';
export { SimulatorConflictError, SimulatorWorld } from './simulator-world.ts';
export type {
  ConfigureSimulatorInput,
  ConfigureSimulatorResult,
  GuestFreezeResult,
  GuestPingResult,
  SimVmView,
  SimulatorWorldOptions,
} from './simulator-world.ts';
export {
  FaultInjector,
  SIMULATED_FAILURE,
  SimulatedAgentError,
  commandKindFromName,
  parseSimulatorValue,
  vmNameOf,
} from './fault-injector.ts';
export type {
  FaultAction,
  FaultChange,
  FaultInjectorOptions,
  FaultRule,
  FaultScope,
  FaultSite,
  NewFaultRule,
  SimulatorValue,
} from './fault-injector.ts';
export {
  DEFAULT_GUEST_AGENT_TIMEOUT_MS,
  GUEST_AGENT_NOT_CONNECTED,
  formatGuestAgentMode,
  parseGuestAgentMode,
} from './guest-agent.ts';
export type { GuestAgentModeText } from './guest-agent.ts';
export type { FreezeWindow, GuestAgentMode, SimSnapshot, SimVm } from './simulator-state.ts';
export { MemorySimulatorPersistence } from './simulator-persistence.ts';
export type {
  SimCommandRecord,
  SimObjectKind,
  SimObjectRow,
  SimulatorPersistence,
} from './simulator-persistence.ts';
