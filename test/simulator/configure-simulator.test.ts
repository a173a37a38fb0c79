/**
 * Issue 10, item 11: `configureSimulator` checks the whole request before it changes anything, so
 * `clear=true` with a bad value or command name leaves the rules as they were; a good one replaces
 * them all in one step.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import { startApiServer, type ApiHarness } from '../helpers/api-server.ts';

describe('SimulatorWorld.configure with clear', () => {
  let world: SimulatorWorld;
  beforeEach(() => {
    world = new SimulatorWorld();
  });
  afterEach(() => world.dispose());

  it.each([
    ['a bad value', { name: 'StopCommand', value: 'result:explode' }],
    ['an unknown command', { name: 'NoSuchCommand', value: 'result:fail' }],
    ['a guest agent value without a VM', { value: 'guestagent:absent' }],
    ['a bad count', { name: 'StopCommand', value: 'result:fail', count: 0 }],
  ])('%s is refused and clears nothing', (_what, input) => {
    const kept = world.configure({ name: 'StartCommand', value: 'result:fail' });
    expect(() => world.configure({ ...input, clear: true })).toThrow();
    expect(world.faults.list()).toEqual(kept.kind === 'fault' ? [kept.rule] : []);
  });

  it('a good request replaces every rule by the new one', () => {
    world.configure({ name: 'StartCommand', value: 'result:fail' });
    world.configure({ name: 'StopCommand', value: 'result:fault' });
    const added = world.configure({ name: 'PingCommand', value: 'wait:5', clear: true });
    expect(added.kind === 'fault' ? [added.rule] : null).toEqual(world.faults.list());
    expect(world.faults.list()).toHaveLength(1);
  });
});

describe('configureSimulator clear=true over the API', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApiServer();
  });
  afterEach(async () => {
    await h.close();
  });

  it('with a bad value: 431 and the rules are kept', async () => {
    await h.admin.payload('configureSimulator', { name: 'StopCommand', value: 'result:fail' });
    const before = h.t.app.simulator.faults.list();
    expect(before).toHaveLength(1);
    const res = await h.admin.call('configureSimulator', { value: 'result:bogus', clear: 'true' });
    expect(res.status).toBe(431);
    expect(h.t.app.simulator.faults.list()).toEqual(before);
  });
});
