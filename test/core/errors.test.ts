/**
 * Issue 10, item 4: one error hierarchy. The exceptions vmsnap names after CloudStack's carry
 * CloudStack's cserrorcode (CSExceptionErrorCode) and their own text, instead of being answered as
 * anonymous internal errors; failures are logged under `err`, a caller's error at info without a stack.
 */
import { describe, expect, it } from 'vitest';
import {
  AgentTimeoutError,
  AgentUnavailableError,
  CloudError,
  ConcurrentOperationError,
  InvalidParameterError,
  ResourceAllocationError,
  describeError,
  logFailure,
} from '../../src/core/errors.ts';
import { HostUnreachableError } from '../../src/manager/host-failure-redaction.ts';
import { ConcurrentUpdateError } from '../../src/store/vm-snapshot-store.ts';

const noId = (): string => {
  throw new Error('a CloudError needs no internal error id');
};

describe('CloudStack exception classes', () => {
  it.each([
    [
      'a lost update race',
      new ConcurrentUpdateError('snap-1', 'Ready'),
      'ConcurrentOperationException',
      530,
      4300,
      'VM snapshot snap-1 was changed concurrently (expected state Ready)',
    ],
    [
      'an agent that did not answer in time',
      new AgentTimeoutError('host-1', 'CreateVMSnapshot', 1000),
      'OperationTimedoutException',
      530,
      4285,
      'Operation timed out: CreateVMSnapshot to host host-1 got no answer within 1000 ms',
    ],
    [
      'an unreachable agent',
      new HostUnreachableError('the host could not be reached (error id x)'),
      'AgentUnavailableException',
      530,
      4285,
      'the host could not be reached (error id x)',
    ],
    [
      'an account limit',
      new ResourceAllocationError('Maximum amount of resources'),
      'ResourceAllocationException',
      535,
      4370,
      'Maximum amount of resources',
    ],
  ])('%s: named, coded and described with its own text', (_what, err, name, code, csCode, text) => {
    expect(err).toBeInstanceOf(CloudError);
    expect(err.name).toBe(name);
    expect(describeError(err, noId)).toEqual({ code, csCode, text });
  });

  it('the specific classes are found by their CloudStack parents', () => {
    expect(new ConcurrentUpdateError('s', 'Ready')).toBeInstanceOf(ConcurrentOperationError);
    expect(new AgentTimeoutError('h', 'Ping', 1)).toBeInstanceOf(AgentUnavailableError);
    expect(new HostUnreachableError('x')).toBeInstanceOf(AgentUnavailableError);
  });
});

describe('logFailure', () => {
  function recorder(): {
    lines: { level: string; fields: Record<string, unknown>; message: string }[];
    log: { info: (f: object, m: string) => void; warn: (f: object, m: string) => void };
  } {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const at =
      (level: string) =>
      (fields: object, message: string): void => {
        lines.push({ level, fields: fields as Record<string, unknown>, message });
      };
    return { lines, log: { info: at('info'), warn: at('warn') } };
  }

  it("a caller's error (a check, a limit) is info, under err, as text without a stack", () => {
    const { lines, log } = recorder();
    logFailure(log, new InvalidParameterError('bad name'), { job: 'j1' }, 'job failed');
    logFailure(log, new ResourceAllocationError('limit'), { job: 'j2' }, 'job failed');
    expect(lines).toEqual([
      { level: 'info', fields: { job: 'j1', err: 'bad name', code: 431 }, message: 'job failed' },
      { level: 'info', fields: { job: 'j2', err: 'limit', code: 535 }, message: 'job failed' },
    ]);
  });

  it('anything else is a warning with the error itself under err (its stack is printed)', () => {
    const { lines, log } = recorder();
    const bug = new TypeError('undefined is not a function');
    const timeout = new AgentTimeoutError('h', 'Ping', 5);
    logFailure(log, bug, { job: 'j1' }, 'job failed');
    logFailure(log, timeout, {}, 'heartbeat failed');
    expect(lines.map((l) => [l.level, l.fields['err']])).toEqual([
      ['warn', bug],
      ['warn', timeout],
    ]);
  });
});
