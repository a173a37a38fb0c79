/**
 * Compile-time proof that a schema and the core's contract describe the same values: each must be
 * assignable to the other. A schema that drops a field, adds a required one or widens a type fails
 * `tsc` here, naming the command kind.
 */
export type Equivalent<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** `never` when every key's pair is equivalent; otherwise the keys that are not. */
export type Mismatches<Pairs extends Record<string, [unknown, unknown]>> = {
  [K in keyof Pairs]: Equivalent<Pairs[K][0], Pairs[K][1]> extends true ? never : K;
}[keyof Pairs];
