/**
 * The columns that hold credentials (`users.secret_key`, `hosts.agent_token`) are sealed with a
 * {@link SecretBox} on every write and opened on every read, by a kysely plugin on the store's
 * connection. Doing it under the query builder rather than in each store means no writer can forget:
 * stores, the seed and the host manager all insert or update these columns with plain values and
 * read plain values back. Only plain values and NULL can be written to them: a secret column set
 * from an SQL expression is refused, since it could not be sealed. Comparing a secret column in a
 * WHERE clause cannot work (every seal uses a fresh IV), and nothing does.
 */
import {
  ColumnNode,
  ColumnUpdateNode,
  DefaultInsertValueNode,
  InsertQueryNode,
  OperationNodeTransformer,
  PrimitiveValueListNode,
  ValueListNode,
  ValueNode,
  ValuesNode,
  type Kysely,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { SecretBox, SecretBoxError } from './secret-box.ts';
import type { Database } from './schema.ts';

/**
 * `users.secret_key`, `hosts.agent_token`, and a pool's URL and details (a cephx key):
 * `storage_pools.pool_url` and `storage_pools.pool_details`. The names are unique across the schema.
 */
const SECRET_NAMES: ReadonlySet<string> = new Set(['secret_key', 'agent_token', 'pool_url', 'pool_details']);

export class SecretColumnsPlugin implements KyselyPlugin {
  readonly #sealer: Sealer;

  constructor(private readonly box: SecretBox) {
    this.#sealer = new Sealer(box);
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#sealer.transformNode(args.node, args.queryId);
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const { result } = args;
    if (!result.rows.some(hasSealedValue)) return Promise.resolve(result);
    return Promise.resolve({ ...result, rows: result.rows.map((row) => this.openRow(row)) });
  }

  private openRow(row: UnknownRow): UnknownRow {
    if (!hasSealedValue(row)) return row;
    const out: UnknownRow = { ...row };
    for (const name of SECRET_NAMES) {
      const value = out[name];
      if (typeof value === 'string') out[name] = this.box.open(value);
    }
    return out;
  }
}

function hasSealedValue(row: UnknownRow): boolean {
  for (const name of SECRET_NAMES) {
    const value = row[name];
    if (typeof value === 'string' && SecretBox.isSealed(value)) return true;
  }
  return false;
}

/** Rewrites INSERT values and UPDATE/ON CONFLICT assignments of secret columns to sealed values. */
class Sealer extends OperationNodeTransformer {
  constructor(private readonly box: SecretBox) {
    super();
  }

  protected override transformInsertQuery(node: InsertQueryNode, queryId?: QueryId): InsertQueryNode {
    const out = super.transformInsertQuery(node, queryId);
    const secretAt = (out.columns ?? []).map((c) => SECRET_NAMES.has(c.column.name));
    if (!secretAt.includes(true)) return out;
    if (out.values === undefined || !ValuesNode.is(out.values))
      throw new Error('a secret column can only be inserted from plain values');
    const rows = out.values.values.map((row) =>
      PrimitiveValueListNode.is(row)
        ? PrimitiveValueListNode.create(
            row.values.map((v, i) => (secretAt[i] === true ? this.sealPlain(v) : v)),
          )
        : ValueListNode.create(row.values.map((v, i) => (secretAt[i] === true ? this.sealNode(v) : v))),
    );
    return InsertQueryNode.cloneWith(out, { values: ValuesNode.create(rows) });
  }

  protected override transformColumnUpdate(node: ColumnUpdateNode, queryId?: QueryId): ColumnUpdateNode {
    const out = super.transformColumnUpdate(node, queryId);
    if (!ColumnNode.is(out.column) || !SECRET_NAMES.has(out.column.column.name)) return out;
    return ColumnUpdateNode.create(out.column, this.sealNode(out.value));
  }

  private sealNode(node: OperationNode): OperationNode {
    if (DefaultInsertValueNode.is(node)) return node;
    if (!ValueNode.is(node)) throw new Error('a secret column can only be set to a plain value');
    return ValueNode.create(this.sealPlain(node.value));
  }

  private sealPlain(value: unknown): unknown {
    if (value === null || value === undefined) return value;
    if (typeof value !== 'string') throw new Error('a secret column holds text');
    // Always sealed, even text that looks sealed: reads open exactly one layer, so a caller-chosen
    // value such as an agent token starting with the prefix still reads back as it was written.
    return this.box.seal(value);
  }
}

/**
 * The start-time pass over the secret columns, on the connection without the plugin: plain values
 * (rows written before encryption existed) are sealed, and every sealed value must open, so a server
 * started with the wrong key stops here, naming the key's source, instead of answering 401 to
 * everyone. Idempotent, and safe with several servers on one database: each row is replaced only
 * if it still holds the plain value that was read. Returns how many values were sealed.
 */
export async function sealSecretColumns(db: Kysely<Database>, box: SecretBox): Promise<number> {
  let sealed = 0;
  for (const column of SEALED_AT_START) {
    for (const row of await column.read(db)) {
      if (row.value === null) continue;
      if (SecretBox.isSealed(row.value)) checkOpens(box, row.value, `${column.name} (row ${row.id})`);
      else sealed += await column.replace(db, row.id, row.value, box.seal(row.value));
    }
  }
  return sealed;
}

interface SecretColumnAccess {
  readonly name: string;
  read(db: Kysely<Database>): Promise<{ id: string; value: string | null }[]>;
  /** Replaces `plain` by `sealed` if the row still holds `plain`; returns 1 if it did. */
  replace(db: Kysely<Database>, id: string, plain: string, sealed: string): Promise<number>;
}

const SEALED_AT_START: readonly SecretColumnAccess[] = [
  {
    name: 'users.secret_key',
    read: (db) => db.selectFrom('users').select(['id', 'secret_key as value']).execute(),
    replace: async (db, id, plain, sealed) =>
      Number(
        (
          await db
            .updateTable('users')
            .set({ secret_key: sealed })
            .where('id', '=', id)
            .where('secret_key', '=', plain)
            .executeTakeFirst()
        ).numUpdatedRows,
      ),
  },
  poolColumn('pool_url'),
  poolColumn('pool_details'),
  {
    name: 'hosts.agent_token',
    read: (db) => db.selectFrom('hosts').select(['id', 'agent_token as value']).execute(),
    replace: async (db, id, plain, sealed) =>
      Number(
        (
          await db
            .updateTable('hosts')
            .set({ agent_token: sealed })
            .where('id', '=', id)
            .where('agent_token', '=', plain)
            .executeTakeFirst()
        ).numUpdatedRows,
      ),
  },
];

/** A secret column of `storage_pools` (URL and details can hold a storage key). */
function poolColumn(column: 'pool_url' | 'pool_details'): SecretColumnAccess {
  return {
    name: `storage_pools.${column}`,
    read: (db) =>
      db
        .selectFrom('storage_pools')
        .select(['id', `${column} as value`])
        .execute(),
    replace: async (db, id, plain, sealed) =>
      Number(
        (
          await db
            .updateTable('storage_pools')
            .set({ [column]: sealed })
            .where('id', '=', id)
            .where(column, '=', plain)
            .executeTakeFirst()
        ).numUpdatedRows,
      ),
  };
}

function checkOpens(box: SecretBox, value: string, what: string): void {
  try {
    box.open(value);
  } catch (err) {
    if (!(err instanceof SecretBoxError)) throw err;
    throw new Error(
      `the database key from ${box.source} cannot decrypt ${what}: this is not the key the database's ` +
        'secrets were encrypted with (servers sharing a database must share the key; a lost key file ' +
        'cannot be recreated, see docs/security.md)',
      { cause: err },
    );
  }
}
