/**
 * The hypervisor strategy reads the typed request options and returns typed facts: the memory
 * mode it sends comes from the request, else from the setting (`host`: the agent decides).
 */
import { describe, expect, it } from 'vitest';
import type { AgentCommand, AgentGateway, AnswerFor, CommandOf, SnapshotOptions } from 'vmsnap/plugin-api';
import { HypervisorVmSnapshotStrategy } from '../../src/strategies/hypervisor-strategy.ts';
import { fakeContext, makeOp, makeSnapshot, makeVolumes } from './fake-strategy-context.ts';

/** Answers every CreateVMSnapshot as a QEMU host would, and keeps what it was sent. */
class RecordingHost implements AgentGateway {
  readonly sent: AgentCommand[] = [];
  async send<C extends AgentCommand>(_hostId: string, command: C): Promise<AnswerFor<C>> {
    this.sent.push(command);
    if (command.kind !== 'CreateVMSnapshot') throw new Error(`unexpected ${command.kind}`);
    const answer: AnswerFor<CommandOf<'CreateVMSnapshot'>> = {
      result: true,
      volumes: command.volumes.map((v) => ({ id: v.id, path: `${v.path}.s1`, size: v.size })),
      timings: { pauseMs: 12.345, freezeMs: 0 },
      memoryMode: command.memoryMode ?? 'live',
    };
    return answer;
  }
}

async function take(options: SnapshotOptions, setting: string) {
  const host = new RecordingHost();
  const ctx = fakeContext({
    gateway: host,
    drivers: [],
    settings: { 'vmsnapshot.memory.mode': setting, 'vmsnapshot.create.wait': '60' },
  });
  const op = makeOp(makeVolumes('local', 1), {
    options,
    quiesce: false,
    snapshot: makeSnapshot({ type: 'DiskAndMemory', quiesce: false }),
  });
  const result = await new HypervisorVmSnapshotStrategy().takeVmSnapshot(ctx, op);
  const sent = host.sent[0];
  return { result, memoryMode: sent?.kind === 'CreateVMSnapshot' ? sent.memoryMode : 'not sent' };
}

describe('hypervisor strategy options and facts', () => {
  it.each([
    [{ memoryMode: 'internal' as const }, 'live', 'internal'],
    [{}, 'internal', 'internal'],
    [{}, 'live', 'live'],
    [{}, 'host', undefined],
  ])('options %j with setting %s send memoryMode %s', async (options, setting, sent) => {
    expect((await take(options, setting)).memoryMode).toBe(sent);
  });

  it('returns what the host measured as typed facts', async () => {
    const { result } = await take({ memoryMode: 'internal' }, 'host');
    expect(result.facts).toEqual({
      host: 'kvm1',
      pauseMs: 12.35,
      freezeWindowMs: 0,
      memoryMode: 'internal',
      consistency: 'application-consistent',
    });
  });
});
