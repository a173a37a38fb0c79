/**
 * A kysely plugin that records every query run through it: its kind, the tables it names, the rows
 * it returned and the rows it changed. Tests use it to prove a list reads one page of rows, not a
 * whole table, and that a purge deletes in bounded statements.
 */
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

export interface RecordedQuery {
  readonly kind: RootOperationNode['kind'];
  readonly tables: readonly string[];
  readonly rowsReturned: number;
  readonly rowsChanged: number;
}

/** Table names anywhere in an operation node tree (FROM, joins, subqueries, DELETE targets). */
function tablesIn(node: unknown, found = new Set<string>()): Set<string> {
  if (typeof node !== 'object' || node === null) return found;
  const n = node as { kind?: unknown; table?: { identifier?: { name?: unknown } } };
  if (n.kind === 'TableNode' && typeof n.table?.identifier?.name === 'string') {
    found.add(n.table.identifier.name);
  }
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) for (const v of value) tablesIn(v, found);
    else tablesIn(value, found);
  }
  return found;
}

export class RowCounter implements KyselyPlugin {
  readonly queries: RecordedQuery[] = [];
  private readonly pending = new WeakMap<object, { kind: RootOperationNode['kind']; tables: string[] }>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.pending.set(args.queryId, { kind: args.node.kind, tables: [...tablesIn(args.node)] });
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const q = this.pending.get(args.queryId);
    const changed = args.result.numAffectedRows ?? 0n;
    this.queries.push({
      kind: q?.kind ?? 'SelectQueryNode',
      tables: q?.tables ?? [],
      rowsReturned: args.result.rows.length,
      rowsChanged: Number(changed),
    });
    return args.result;
  }

  /** Rows returned by every query that named `table`. */
  rowsReadFrom(table: string): number {
    return this.queries.filter((q) => q.tables.includes(table)).reduce((sum, q) => sum + q.rowsReturned, 0);
  }

  reset(): void {
    this.queries.length = 0;
  }
}
