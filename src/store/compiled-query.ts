/**
 * Hot queries compiled once. Building a kysely query, passing it through the plugins and compiling
 * it to SQL costs more CPU than running a small SQLite statement (issue 15's profile: kysely's
 * building ~15 % of the server's time). A query built here is compiled on first use with a marker in
 * each named slot; later runs only put the values in the slots' places and execute the SQL, through
 * the same connection (or transaction) and the same result plugins.
 *
 * A slot stands for one bound value: it must not be inside an `in (…)` list of variable length, and
 * the query's shape (its SQL text) must not depend on the values. Secret columns
 * (src/store/secret-columns.ts) are sealed when a query is built, so they must never be slots.
 *
 * Plugins see a query when it is built. The store's own plugin (sealing secret columns) gives the
 * same result for every run of a statement without secret columns; any other plugin (a test's tap
 * or counter) must see every query, so on a connection that has one the query is built each time.
 */
import type { Compilable, CompiledQuery, Kysely, KyselyPlugin, QueryResult } from 'kysely';
import { SecretColumnsPlugin } from './secret-columns.ts';

const MARK = '\u0000vmsnap-slot:';

/** Named stand-ins for the values of one run, typed as the columns they fill. */
export type Slots<P> = { readonly [K in keyof P]: P[K] };

export class CompiledStatement<P extends Record<string, unknown>, R> {
  private compiled: CompiledQuery<R> | undefined;
  /** For each compiled parameter: the slot it takes its value from, or undefined for a constant. */
  private slotAt: (keyof P | undefined)[] = [];

  /** `build` receives the slots and returns the query (built on the db it is given). */
  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema: the builder types it
    private readonly build: (db: Kysely<any>, slots: Slots<P>) => Compilable<R>,
    private readonly names: readonly (keyof P & string)[],
  ) {}

  /** Runs it on `db` (a Kysely instance or a transaction) with these values. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema, see above
  async execute(db: Kysely<any>, values: P): Promise<QueryResult<R>> {
    if (!db.getExecutor().plugins.every(compilesOnce)) return db.executeQuery<R>(this.build(db, values));
    const compiled = this.compiled ?? this.compile(db);
    const parameters = compiled.parameters.map((constant, i) => {
      const slot = this.slotAt[i];
      return slot === undefined ? constant : values[slot];
    });
    return db.executeQuery<R>({ ...compiled, parameters });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema, see above
  private compile(db: Kysely<any>): CompiledQuery<R> {
    const slots = Object.fromEntries(this.names.map((n) => [n, `${MARK}${n}`])) as unknown as Slots<P>;
    const compiled = this.build(db, slots).compile();
    this.slotAt = compiled.parameters.map((p) =>
      typeof p === 'string' && p.startsWith(MARK) ? (p.slice(MARK.length) as keyof P) : undefined,
    );
    const missing = this.names.filter((n) => !this.slotAt.includes(n));
    if (missing.length > 0) throw new Error(`compiled query lost its slots ${missing.join(', ')}`);
    this.compiled = compiled;
    return compiled;
  }
}

/** A plugin whose rewrite of a query without secret columns is the query itself. */
function compilesOnce(plugin: KyselyPlugin): boolean {
  return plugin instanceof SecretColumnsPlugin;
}
