/**
 * The `default` of an exhaustive switch: the type checker proves it unreachable, and a value that
 * gets there anyway (a caller outside TypeScript, a stale state file) fails loudly, naming itself.
 */
export function assertNever(value: never, message = 'Unexpected value'): never {
  throw new Error(`${message}: ${JSON.stringify(value)}`);
}
