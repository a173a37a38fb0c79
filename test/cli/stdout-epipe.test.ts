/** A reader that has gone (EPIPE) ends a client command quietly; any other write error still fails. */
import { EventEmitter } from 'node:events';
import { expect, it } from 'vitest';
import { exitQuietlyOnEpipe } from '../../src/cli/client/stdout-epipe.ts';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`write ${code}`), { code });
}

it('EPIPE exits 0 once however often it is installed; ENOSPC is thrown as before', () => {
  const stdout = new EventEmitter();
  const exits: number[] = [];
  exitQuietlyOnEpipe(stdout, (code) => exits.push(code));
  exitQuietlyOnEpipe(stdout, (code) => exits.push(code));
  expect(stdout.listenerCount('error')).toBe(1);
  stdout.emit('error', errno('EPIPE'));
  expect(exits).toEqual([0]);
  expect(() => stdout.emit('error', errno('ENOSPC'))).toThrow('write ENOSPC');
});
