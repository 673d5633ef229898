import { createHash } from 'node:crypto';
import pg from 'pg';
import { isLostConnection, lockStatement, type Db, type ListenHandlers, type Queryable, type Statement, type Then, type TransactionOptions } from './db.js';
import { listenPostgres } from './postgres-listen.js';

// int8 and numeric come back from `pg` as strings by default; Switchboard's
// bigint columns (event and message ids, counts) all fit in a double, and PGlite
// already returns numbers, so both stores answer alike.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

// Statements with parameters run as named prepared statements: the server
// plans each once per connection instead of on every call (planning the
// matching query costs about as much as running it). The texts are constants
// of the code, so the set of names stays small.
const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `sb_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * Makes every commit before it durable: a synchronous commit that wrote WAL
 * flushes the log up to its own record, which lies after theirs. Each
 * connection updates its own row, so concurrent flushes do not wait on each
 * other's row locks and PostgreSQL can serve them with one disk flush.
 */
export const FLUSH_WAL = `insert into wal_flush (pid, n) values (pg_backend_pid(), 1)
  on conflict (pid) do update set n = wal_flush.n + 1`;

/** `value` as an escaped SQL literal, for statements sent in a multi-statement message. */
function literal(client: pg.ClientBase, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot inline ${value}`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return client.escapeLiteral(value);
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  if (Array.isArray(value)) return `array[${value.map((v) => literal(client, v)).join(', ')}]`;
  throw new Error(`cannot inline a ${typeof value} parameter`);
}

/** `$n` placeholders replaced by escaped literals, for statements sent in a multi-statement message. */
function inline(client: pg.ClientBase, text: string, params: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    if (Number(n) < 1 || Number(n) > params.length) throw new Error(`no parameter $${n}`);
    return literal(client, params[Number(n) - 1]);
  });
}

/**
 * A statement PREPAREd on one connection: its name and its parameters'
 * types as the server inferred them (pg_prepared_statements).
 */
interface Prepared {
  name: string;
  types: readonly string[];
  /**
   * The statement's text as a comment before its EXECUTE: what the session
   * runs stays readable where it shows (pg_stat_activity, the server's log,
   * the tests that find a waiting call by its function's name).
   */
  comment: string;
}

// A one-statement transaction (transactOne) is sent as a script in the
// simple query protocol, which cannot carry parameters: the statement went
// with its values inlined, and the server parsed, analysed and planned it,
// and the flush after it, on every call — ≈ 11–12 % of a chat message's
// backend CPU (issue #22). Each connection now PREPAREs such a statement
// the first time it runs it (one round trip, once), and the script EXECUTEs
// it: only the EXECUTE and its literal arguments are parsed, the plan is
// the connection's. A statement the server cannot prepare on its own (a
// parameter whose type it cannot infer) is sent inlined as before.
const preparedBy = new WeakMap<pg.ClientBase, Map<string, Prepared | null>>();

async function preparedOn(client: pg.ClientBase, text: string): Promise<Prepared | null> {
  let statements = preparedBy.get(client);
  if (statements === undefined) {
    statements = new Map();
    preparedBy.set(client, statements);
  }
  const known = statements.get(text);
  if (known !== undefined) return known;
  // Not the names `pg` gives its own named statements (statementName): both
  // live in the session's one namespace.
  const name = `sbx_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
  try {
    const results = (await client.query(
      `prepare ${name} as ${text};\nselect parameter_types::text[] as types from pg_prepared_statements where name = ${client.escapeLiteral(name)}`,
    )) as unknown as pg.QueryResult<{ types: string[] }>[];
    // Written so that the statement cannot end the comment (or nest one).
    const comment = `/* ${text.replace(/\s+/g, ' ').trim().replaceAll('*/', '* /').replaceAll('/*', '/ *')} */`;
    const prepared = { name, types: results[1]!.rows[0]!.types, comment };
    statements.set(text, prepared);
    return prepared;
  } catch (error) {
    if (isLostConnection(error)) throw error;
    statements.set(text, null);
    return null;
  }
}

/**
 * The statement to put in a script for `text` with `params`: EXECUTE of its
 * prepared form, each argument a literal cast to the parameter's type (as
 * it would be written in place of $n with that cast), or else inlined.
 */
async function scripted(client: pg.ClientBase, text: string, params: readonly unknown[]): Promise<string> {
  const prepared = await preparedOn(client, text);
  if (prepared === null || prepared.types.length !== params.length) return inline(client, text, params);
  if (params.length === 0) return `${prepared.comment} execute ${prepared.name}`;
  return `${prepared.comment} execute ${prepared.name}(${params.map((value, i) => `cast(${literal(client, value)} as ${prepared.types[i]})`).join(', ')})`;
}

/**
 * A multi-statement script (simple query protocol) whose statements' rows
 * are kept one by one as each completes, so that when a later statement
 * fails what ran before it is known: `pg` keeps nothing of a failed
 * script. Statements without rows count too, in order.
 */
class Script extends pg.Query {
  readonly completed: { command: string; rows: unknown[] }[] = [];
  #rows: unknown[] = [];

  constructor(text: string) {
    super(text);
    this.on('row', (row: unknown) => void this.#rows.push(row));
  }

  /** pg's hook for each statement's CommandComplete, as pg-cursor uses it */
  handleCommandComplete(message: { text: string }, connection: unknown): void {
    (pg.Query.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }).handleCommandComplete.call(this, message, connection);
    this.completed.push({ command: message.text, rows: this.#rows });
    this.#rows = [];
  }

  /** Sends the script on `client`; resolves when it is done, rejects with the first statement to fail. */
  run(client: pg.PoolClient): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      // Set before client.query, which wraps it in the read timeout.
      (this as unknown as { callback: (error: unknown) => void }).callback = (error) => (error ? reject(error) : resolve());
    });
    client.query(this);
    return done;
  }
}

/**
 * The named statement `text` with `params`, as a query object made from its
 * text: pg copies a query given as a config object ({ name, text, values })
 * property by property through their descriptors, ≈ 2.4 µs a statement
 * against 0.1 for the text (most statements a chat message costs the server).
 */
function named(text: string, params: readonly unknown[]): pg.Query {
  const query = new pg.Query(text, params as unknown[]);
  (query as unknown as { name: string }).name = statementName(text);
  return query;
}

/** Runs `query` on the pool (which takes a connection and gives it back) or on a checked-out client. */
function submit(client: pg.Pool | pg.PoolClient, query: pg.Query): Promise<pg.QueryResult> {
  // The pool hands the query to a connection with its own callback, and answers with a promise.
  if (client instanceof pg.Pool) return client.query(query) as unknown as Promise<pg.QueryResult>;
  return new Promise((resolve, reject) => {
    // Set before client.query, which wraps it in the read timeout.
    (query as unknown as { callback: (error: Error | null, result: pg.QueryResult) => void }).callback = (error, result) => (error ? reject(error) : resolve(result));
    client.query(query);
  });
}

export interface PostgresOptions {
  connectionString: string;
  max?: number;
  /** how long to wait for a new connection to be established, ms; default 5 s */
  connectTimeoutMs?: number;
  /**
   * The server cancels a statement running longer than this, ms; 0 = never.
   * The client also gives up on a connection silent for this plus 5 s (a
   * network that drops packets instead of refusing), and a caller waiting
   * for a free connection of the pool gives up after this plus the connect
   * timeout (the connections it waits for run statements bounded by this).
   */
  statementTimeoutMs?: number;
}

/** The client-side deadline's margin over the server's: normally the server's cancel arrives first. */
const READ_TIMEOUT_MARGIN_MS = 5_000;

export function openPostgres(options: PostgresOptions): Db & { pool: pg.Pool } {
  const statementTimeoutMs = options.statementTimeoutMs ?? 0;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  // During a database outage a request must fail (503) within a bound, not
  // queue for ever. The pool's own timeout covers both waiting for a free
  // connection and making one; making one gets the shorter deadline here,
  // so a pool that is merely busy under load is not mistaken for an outage.
  class Client extends pg.Client {
    constructor(config: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
    }
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    types: types as pg.CustomTypesConfig,
    Client: Client as unknown as new () => pg.ClientBase,
    keepAlive: true,
    // Never close an idle connection (pg's default closes them after 10 s).
    // The routing functions' plans are cached per session: a new connection's
    // first open or close plans every statement in them, 77–231 ms measured
    // under load, so a burst after a quiet spell paid that on each connection
    // it reopened (a suspect for the resolve p99 stall in bench/RESULTS.md).
    idleTimeoutMillis: 0,
    ...(statementTimeoutMs > 0
      ? {
          connectionTimeoutMillis: statementTimeoutMs + connectTimeoutMs,
          statement_timeout: statementTimeoutMs,
          query_timeout: statementTimeoutMs + READ_TIMEOUT_MARGIN_MS,
        }
      : {}),
  });
  // An idle client that loses its connection (server restart) must not crash
  // the process; the pool replaces it on next use.
  pool.on('error', () => {});

  const run = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = params === undefined ? await client.query(text) : await submit(client, named(text, params));
      return result.rows as Row[];
    },
    async exec(text: string) {
      await client.query(text);
    },
  });

  /**
   * A pooled client for `work`, which begins a transaction on it. On failure
   * the transaction is rolled back, or the connection discarded when it is
   * lost or cannot roll back.
   */
  async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken = false;
    // A checked-out client has no listener of the pool's: a connection lost
    // between two statements would be an uncaught 'error' event and end the
    // process. The next statement fails instead, and the client is discarded.
    const lost = () => {
      broken = true;
    };
    client.on('error', lost);
    try {
      return await work(client);
    } catch (error) {
      // After a client-side read timeout the statement may still be running
      // on this connection: a rollback would queue behind it, and the
      // connection must not go back to the pool.
      if (isLostConnection(error)) {
        broken = true;
      } else {
        try {
          await client.query('rollback');
        } catch {
          broken = true;
        }
      }
      throw error;
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }

  return {
    kind: 'postgres',
    pool,
    ...run(pool),
    transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      return inTransaction(async (client) => {
        // Prepared before BEGIN: a PREPARE that failed inside would abort the transaction.
        const flush = opts?.groupCommit ? await scripted(client, FLUSH_WAL, []) : undefined;
        const locks = opts?.locks ?? [];
        const begin = ['begin'];
        if (opts?.groupCommit) begin.push('set local synchronous_commit = off');
        if (locks.length > 0) begin.push(lockStatement(locks));
        await client.query(begin.join('; '));
        const value = await fn(run(client));
        const final = opts?.final?.();
        // One message: the final statement, COMMIT (which releases the locks)
        // and, with group commit, the flush — each statement in its own
        // transaction after the COMMIT.
        const script = [final ? inline(client, final.text, final.params) : undefined, 'commit', flush]
          .filter((s): s is string => s !== undefined)
          .join(';\n');
        const results = (await client.query(script)) as unknown as pg.QueryResult | pg.QueryResult[];
        if (final) final.rows((Array.isArray(results) ? results[0]! : results).rows);
        return value;
      });
    },
    transactOne<Row>(text: string, params: readonly unknown[]): Promise<Row[]> {
      return inTransaction(async (client) => {
        // The whole transaction in one message; the flush runs after COMMIT,
        // outside the locks the statement took (see groupCommit).
        const script = ['begin', 'set local synchronous_commit = off', await scripted(client, text, params), 'commit', await scripted(client, FLUSH_WAL, [])].join(';\n');
        const results = (await client.query(script)) as unknown as pg.QueryResult[];
        return results[2]!.rows as Row[];
      });
    },
    transactOneThen<Row, After>(text: string, params: readonly unknown[], after: Statement): Promise<Then<Row, After>> {
      return inTransaction(async (client) => {
        // As transactOne, `after` between the COMMIT and the flush: the two
        // form one implicit transaction, whose snapshot is taken after the
        // commit, and which commits (flushing the log) only once `after` ran.
        const script = new Script(
          [
            'begin',
            'set local synchronous_commit = off',
            await scripted(client, text, params),
            'commit',
            await scripted(client, after.text, after.params),
            await scripted(client, FLUSH_WAL, []),
          ].join(';\n'),
        );
        try {
          await script.run(client);
          return { rows: script.completed[2]!.rows as Row[], after: script.completed[4]!.rows as After[] };
        } catch (error) {
          const committed = script.completed.length >= 4 && script.completed[3]!.command === 'COMMIT';
          if (!committed || isLostConnection(error)) throw error;
          // `after` failed and took the flush with it: the work is committed,
          // not yet durable. Flush now; a failure here is the request's.
          await client.query(FLUSH_WAL);
          return { rows: script.completed[2]!.rows as Row[], after: undefined, afterError: error };
        }
      });
    },
    listen: (channel: string, handlers: ListenHandlers) => listenPostgres({ connectionString: options.connectionString, connectTimeoutMs }, channel, handlers),
    async close() {
      await pool.end();
    },
  };
}
