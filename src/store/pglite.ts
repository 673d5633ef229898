import { PGlite, TransactionAbortedError, messages, protocol, types } from '@electric-sql/pglite';
import type { Db, ListenHandlers, Listening, Queryable, Statement, Then, TransactionOptions } from './db.js';
import { readReply, type Field, type Reply } from './pglite-reply.js';

/** A statement parsed once under its own name: what to serialize its parameters as, and how to read its rows. */
interface Prepared {
  name: string;
  paramTypes: number[];
  fields: Field[];
}

export interface PgliteOptions {
  /** How many parsed statements stay prepared; the least recently used is closed beyond it. */
  planCacheSize?: number;
  /** Start from this dump of a data directory (`dumpDataDir`) instead of an empty cluster. */
  loadDataDir?: Blob | File;
}

const { serialize } = protocol;
const EXECUTE = serialize.execute();
const SYNC = serialize.sync();
const BEGIN = serialize.query('BEGIN');
const COMMIT = serialize.query('COMMIT');
const DEFAULT_PLAN_CACHE_SIZE = 200;

/**
 * Embedded PostgreSQL. `dataDir` undefined keeps everything in memory (tests,
 * the simulator). PGlite is one connection in one process: one mutex runs
 * statements and transactions one at a time.
 *
 * PGlite's own `query` parses and plans every statement afresh (the unnamed
 * statement), which for the engine's long CTEs costs more than running them.
 * Here each statement with parameters is parsed once under a name and then
 * only bound and executed, so PostgreSQL keeps its plan — the plan cache
 * behind a `pg` connection's named statements, for the one connection PGlite
 * is. That means speaking the wire protocol to PGlite directly, and so taking
 * its mutex ourselves: a transaction holds it from BEGIN to COMMIT, and any
 * other statement waits for it rather than landing inside.
 */
export async function openPglite(dataDir?: string, options: PgliteOptions = {}): Promise<Db & { pglite: PGlite }> {
  // On disk the operating system's page cache already holds the files; 16 MB
  // of shared buffers instead of 128 MB keeps the server's memory small.
  const pglite = await PGlite.create({
    ...(dataDir === undefined ? {} : { dataDir, startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] }),
    ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
  });
  // At least one: the statement being prepared must have a place.
  const session = new PlanCachingSession(pglite, Math.max(1, options.planCacheSize ?? DEFAULT_PLAN_CACHE_SIZE), dataDir !== undefined);
  const exclusive = async <T>(fn: () => Promise<T>): Promise<T> =>
    pglite.runExclusive(async () => {
      await pglite._checkReady(); // a close() that ran while this waited
      return fn();
    });
  return {
    kind: 'pglite',
    pglite,
    query: <Row>(text: string, params?: readonly unknown[]) => exclusive(() => session.query<Row>(text, params ?? [], false)),
    exec: (text: string) => exclusive(() => session.exec(text, false)),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions) =>
      exclusive(() => session.transaction(fn, options)),
    // A statement outside a transaction commits on its own: one call.
    transactOne: <Row>(text: string, params: readonly unknown[]) => exclusive(() => session.query<Row>(text, params, false)),
    // Both under one hold of the mutex: nothing else runs on the session
    // between the commit and `after`.
    transactOneThen: <Row, After>(text: string, params: readonly unknown[], after: Statement) =>
      exclusive(async (): Promise<Then<Row, After>> => {
        const rows = await session.query<Row>(text, params, false);
        try {
          return { rows, after: await session.query<After>(after.text, after.params, false) };
        } catch (error) {
          return { rows, after: undefined, afterError: error };
        }
      }),
    // One connection: its own NOTIFYs come back to it in the reply to their
    // COMMIT, and it cannot be lost, so nothing ever needs reconnecting.
    async listen(channel: string, handlers: ListenHandlers): Promise<Listening> {
      if (session.listen(channel, handlers)) await exclusive(() => session.query(`listen ${quoteIdent(channel)}`, [], false));
      return {
        close: async () => {
          if (session.unlisten(channel, handlers) && !pglite.closed) await exclusive(() => session.query(`unlisten ${quoteIdent(channel)}`, [], false));
        },
      };
    },
    async close() {
      await pglite.close();
    },
  };
}

/** Statements sent over PGlite's wire protocol, always by someone holding its mutex. */
class PlanCachingSession {
  /** by statement text, least recently used first */
  readonly #cache = new Map<string, Prepared>();
  /** statements to close with the next batch sent to PostgreSQL */
  #closing: string[] = [];
  #nextName = 0;
  readonly #listeners = new Map<string, Set<ListenHandlers>>();
  /**
   * A transaction's BEGIN is not sent on its own: it goes ahead of the
   * transaction's first statement, in the same call into PostgreSQL. Each
   * call costs about as much as a simple statement.
   */
  #beginPending = false;

  constructor(
    private readonly pglite: PGlite,
    private readonly capacity: number,
    /**
     * Whether the cluster lives in a data directory. In memory there is
     * nothing to sync to: PGlite's syncToFs is then a no-op reached through
     * an async mutex and a few awaits, at every call into PostgreSQL (about
     * 1.5 % of a simulation's loop).
     */
    private readonly persistent: boolean,
  ) {}

  /** Adds a listener; true when it is the channel's first (LISTEN is then to be sent). */
  listen(channel: string, handlers: ListenHandlers): boolean {
    const set = this.#listeners.get(channel) ?? new Set();
    this.#listeners.set(channel, set.add(handlers));
    return set.size === 1;
  }

  /** Removes a listener; true when it was the channel's last (UNLISTEN is then to be sent). */
  unlisten(channel: string, handlers: ListenHandlers): boolean {
    const set = this.#listeners.get(channel);
    if (!set?.delete(handlers) || set.size > 0) return false;
    this.#listeners.delete(channel);
    return true;
  }

  async query<Row>(text: string, params: readonly unknown[], inTransaction: boolean): Promise<Row[]> {
    const { fields, reply } = await this.#statement(text, params, inTransaction);
    return this.#rows<Row>(fields, reply.rows);
  }

  /** Scripts (migrations) keep the simple query protocol: several statements, no parameters. */
  async exec(text: string, inTransaction: boolean): Promise<void> {
    await this.#send([serialize.query(text)], !inTransaction, text, []);
    // A script may change what statements return or take; parse them all anew.
    for (const cached of this.#cache.keys()) this.#forget(cached);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions | undefined): Promise<T> {
    this.#beginPending = true;
    let open = true;
    // The work may run statements side by side; PGlite takes one message at a
    // time, and a statement's prepare and execute must not be split by another.
    let tail: Promise<unknown> = Promise.resolve();
    const serial = <R>(run: () => Promise<R>): Promise<R> => {
      const next = tail.then(() => {
        if (!open) throw new Error('Transaction is closed');
        return run();
      });
      tail = next.catch(() => {});
      return next;
    };
    const tx: Queryable = {
      query: <Row>(text: string, params?: readonly unknown[]) => serial(() => this.query<Row>(text, params ?? [], true)),
      exec: (text: string) => serial(() => this.exec(text, true)),
    };
    try {
      const value = await fn(tx);
      await tail;
      const final = options?.final?.();
      open = false;
      if (this.#beginPending && final === undefined) {
        this.#beginPending = false; // nothing ran: nothing to commit
        return value;
      }
      // The last statement and COMMIT share one call. A failing statement
      // leaves the transaction aborted; its COMMIT then answers ROLLBACK.
      let reply: Reply;
      if (final) {
        const done = await this.#statement(final.text, final.params, true, COMMIT);
        reply = done.reply;
        final.rows(this.#rows(done.fields, reply.rows));
      } else {
        reply = await this.#send([COMMIT], true, 'COMMIT', []);
      }
      // COMMIT of a transaction that already failed answers ROLLBACK, not an error.
      if (reply.lastCommand === 'ROLLBACK') throw new TransactionAbortedError();
      return value;
    } catch (error) {
      open = false;
      await tail;
      if (this.#beginPending) {
        this.#beginPending = false; // BEGIN was never sent
        throw error;
      }
      // After a failed COMMIT there is no transaction left and this only warns.
      await this.#send([serialize.query('ROLLBACK')], true, 'ROLLBACK', []).catch(() => {});
      throw error;
    }
  }

  /**
   * One statement, with a pending BEGIN before it and `after` (a COMMIT)
   * behind it in the same call. Statements with parameters run prepared.
   */
  async #statement(
    text: string,
    params: readonly unknown[],
    inTransaction: boolean,
    after?: Uint8Array,
  ): Promise<{ fields: readonly Field[]; reply: Reply }> {
    const tail = after === undefined ? [] : [after];
    // Without parameters there is nothing to bind, and such texts are often
    // one-offs (DDL, statements with inlined values): parsed unnamed.
    if (params.length === 0) {
      const reply = await this.#send(
        [serialize.parse({ text }), serialize.bind(), serialize.describe({ type: 'P' }), EXECUTE, SYNC, ...tail],
        !inTransaction,
        text,
        params,
      );
      return { fields: reply.fields ?? [], reply };
    }
    const cached = this.#cache.get(text);
    const prepared = cached ?? (await this.#prepare(text, params));
    if (cached !== undefined) {
      this.#cache.delete(text); // re-inserted last: most recently used
      this.#cache.set(text, cached);
    }
    try {
      return { fields: prepared.fields, reply: await this.#execute(prepared, text, params, inTransaction, tail) };
    } catch (error) {
      // A table changed shape under a cached `select *`-like statement. Outside
      // a transaction nothing was done yet, so parse it again and retry; inside,
      // the transaction is already aborted and the caller has to start over.
      if (cached === undefined || !isPlanInvalidated(error)) throw error;
      this.#forget(text);
      if (inTransaction) throw error;
      const again = await this.#prepare(text, params);
      return { fields: again.fields, reply: await this.#execute(again, text, params, inTransaction, tail) };
    }
  }

  async #prepare(text: string, params: readonly unknown[]): Promise<Prepared> {
    const name = `sb_${(this.#nextName++).toString(36)}`;
    while (this.#cache.size >= this.capacity) {
      const oldest = this.#cache.keys().next().value as string;
      this.#forget(oldest);
    }
    const reply = await this.#send([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), SYNC], false, text, params);
    const prepared: Prepared = { name, paramTypes: reply.paramTypes ?? [], fields: reply.fields ?? [] };
    this.#cache.set(text, prepared);
    return prepared;
  }

  async #execute(
    prepared: Prepared,
    text: string,
    params: readonly unknown[],
    inTransaction: boolean,
    tail: readonly Uint8Array[],
  ): Promise<Reply> {
    // As PGlite's own query does: each value in the text form of the type
    // PostgreSQL inferred for its placeholder.
    const values = params.map((param, i) => {
      if (param === null || param === undefined) return null;
      const serializer = this.pglite.serializers[prepared.paramTypes[i]!];
      return serializer ? serializer(param) : (param as { toString(): string }).toString();
    });
    return this.#send([serialize.bind({ statement: prepared.name, values }), EXECUTE, SYNC, ...tail], !inTransaction, text, params);
  }

  #rows<Row>(fields: readonly Field[], dataRows: readonly (string | null)[][]): Row[] {
    const parsers = this.pglite.parsers;
    const rows: Row[] = [];
    for (const values of dataRows) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < values.length; i++) {
        const field = fields[i]!;
        row[field.name] = types.parseType(values[i] ?? null, field.dataTypeID, parsers);
      }
      rows.push(row as Row);
    }
    return rows;
  }

  /** Listeners run after the mutex is released: they may well query. */
  #notify(channels: readonly string[]): void {
    for (const channel of new Set(channels)) {
      for (const handlers of this.#listeners.get(channel) ?? []) setImmediate(() => handlers.notified());
    }
  }

  #forget(text: string): void {
    const prepared = this.#cache.get(text);
    if (prepared === undefined) return;
    this.#cache.delete(text);
    this.#closing.push(prepared.name);
  }

  /**
   * One batch of messages ending in Sync (or a simple Query), so PostgreSQL
   * is ready for the next whatever happened. Statements waiting to be closed
   * and a pending BEGIN go ahead of it.
   */
  async #send(parts: readonly Uint8Array[], syncToFs: boolean, query: string, params: readonly unknown[]): Promise<Reply> {
    const ahead: Uint8Array[] = this.#closing.map((name) => serialize.close({ type: 'S', name }));
    if (ahead.length > 0) ahead.push(SYNC);
    this.#closing = [];
    if (this.#beginPending) {
      ahead.push(BEGIN);
      this.#beginPending = false;
    }
    // The raw stream hands over PostgreSQL's output as written, a view into
    // WASM memory to copy before the next write; execProtocolRaw would also
    // run PGlite's own parser over it.
    const chunks: Uint8Array[] = [];
    await this.pglite.execProtocolRawStream(concat([...ahead, ...parts]), { syncToFs: syncToFs && this.persistent, onRawData: (chunk) => void chunks.push(chunk.slice()) });
    const reply = readReply(chunks.length === 1 ? chunks[0]! : concat(chunks));
    if (reply.notified) this.#notify(reply.notified);
    // Shaped like PGlite's own errors: the SQLSTATE in `code`, plus what ran.
    if (reply.error) throw Object.assign(reply.error, { query, params });
    return reply;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isPlanInvalidated(error: unknown): boolean {
  return error instanceof messages.DatabaseError && error.code === '0A000' && /cached plan must not change result type/.test(error.message);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

