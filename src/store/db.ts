// The one interface the rest of Switchboard uses to reach its store, whether
// that is a PostgreSQL server (`pg`) or embedded PGlite. Both speak the same
// SQL, so everything above this file is written once.

export interface Queryable {
  /** Runs one statement and returns its rows. */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * Transaction-scoped advisory locks taken right after BEGIN, in the given
   * order: a key alone exclusive, `{ shared: key }` shared. Sending them with
   * BEGIN saves a round trip per transaction (and one while the locks are
   * held, for a transaction that took its lock in a statement of its own).
   * PGlite, one connection behind a mutex, needs none and takes none.
   */
  locks?: readonly AdvisoryLock[];
  /**
   * Commit without waiting for the disk, so the locks are released at once,
   * then wait for the write-ahead log to be flushed past this commit before
   * returning — outside the locks, where concurrent transactions share one
   * flush. The caller still answers only after the work is durable; other
   * transactions may see it a moment earlier, and anything they commit
   * after it is logged after it. Ignored by PGlite.
   */
  groupCommit?: boolean;
  /**
   * A last statement, built once the work is done, that must commit with it.
   * On PostgreSQL it travels in the same message as COMMIT (its parameters
   * inlined as escaped literals), saving a round trip while the locks are held.
   */
  final?: () => FinalStatement | undefined;
}

export interface FinalStatement {
  text: string;
  params: readonly unknown[];
  /** receives the statement's rows */
  rows(rows: unknown[]): void;
}

export interface Statement {
  text: string;
  params: readonly unknown[];
}

/** What transactOneThen returns: the transaction's rows and those of the statement after its commit. */
export interface Then<Row, After> {
  rows: Row[];
  after: After[] | undefined;
  afterError?: unknown;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * One statement as a transaction of its own, committed as with
   * `groupCommit`, in one round trip: for the routing functions
   * (src/store/migrations/routing/functions.sql), which take their locks themselves.
   */
  transactOne<Row = Record<string, unknown>>(text: string, params: readonly unknown[]): Promise<Row[]>;
  /**
   * transactOne, then `after` in the same round trip once that transaction
   * has committed: outside its locks, in a transaction of its own whose
   * snapshot sees the commit (and whatever else committed by then), on the
   * same session. A read the caller would otherwise send next, at the cost
   * of another round trip, or run inside the transaction while its locks
   * are held.
   *
   * `after` cannot see the first statement's rows; what it needs of them
   * the first statement leaves in a session setting (`set_config(name,
   * value, false)`, kept by the commit), which `after` reads.
   *
   * A failing first statement rolls back and rejects; `after` does not run.
   * When `after` fails, the work stays committed (and durable) and is
   * returned: `after` undefined, `afterError` why.
   */
  transactOneThen<Row = Record<string, unknown>, After = Record<string, unknown>>(
    text: string,
    params: readonly unknown[],
    after: Statement,
  ): Promise<Then<Row, After>>;
  /**
   * Calls `handlers.notified` for each NOTIFY on `channel`, as its
   * transaction commits (whichever process or connection sent it). After a
   * lost listening connection is back, `handlers.reconnected` runs: what was
   * notified meanwhile is gone, so the caller looks for itself.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<Listening>;
  close(): Promise<void>;
}

export interface ListenHandlers {
  notified(): void;
  reconnected?(): void;
  /** a lost connection, or a failed attempt to make a new one (it is retried) */
  onError?(error: unknown): void;
}

export interface Listening {
  close(): Promise<void>;
}

/** The channel migration 0027 notifies on when events or outbound requests are inserted. */
export const OUTBOX_CHANNEL = 'switchboard_outbox';

/** Advisory lock keys. Every transaction takes them in this order, so none can deadlock. */
export const LOCKS = {
  /** Serializes every change to who holds which conversation and every agent's load. */
  routing: 7_301_001n,
  // 7_301_002 was the events lock, held from the events insert to commit;
  // the log's read horizon replaced it (migration 0022). Not to be reused.
  migrations: 7_301_003n,
  /** Serializes creating canned responses, so their caps hold across processes (taken alone: it cannot deadlock). */
  cannedResponses: 7_301_004n,
} as const;

/** An advisory lock key, taken exclusive, or `{ shared: key }`, taken shared. */
export type AdvisoryLock = bigint | { readonly shared: bigint };

export function lockStatement(locks: readonly AdvisoryLock[]): string {
  return `select ${locks
    .map((lock) => (typeof lock === 'bigint' ? `pg_advisory_xact_lock(${lock.toString()})` : `pg_advisory_xact_lock_shared(${lock.shared.toString()})`))
    .join(', ')}`;
}

/**
 * `pg` reports a lost or unobtainable connection with plain errors, without
 * a code; these are their messages (client, pool, and the read timeout).
 * Such a connection is not to be used again, and the request may succeed
 * if retried.
 */
const LOST_CONNECTION = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable|timeout expired)/;

export function isLostConnection(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && LOST_CONNECTION.test(message);
}
