// For tests that act between two statements of a transaction the code under
// test runs (pause it there, read what it wrote so far): the store as the
// code sees it, calling `after` once each statement inside a transaction has
// run, before its rows go back.
import type { Db, Queryable, TransactionOptions } from '../../src/store/db.js';

export function afterEachStatement(db: Db, after: (text: string, tx: Queryable, options: TransactionOptions | undefined) => Promise<void> | void): Db {
  return {
    ...db,
    transaction: (fn, options) =>
      db.transaction(
        (tx) =>
          fn({
            query: async <Row,>(text: string, params?: readonly unknown[]) => {
              const rows = await tx.query<Row>(text, params);
              await after(text, tx, options);
              return rows;
            },
            exec: (text) => tx.exec(text),
          }),
        options,
      ),
  } as Db;
}

/**
 * The store as `ctx` sees it, with the first statement whose text matches
 * `at` held once it has run (inside a transaction or not) until `resume()`.
 */
export function pauseAfter(db: Db, at: RegExp) {
  let reached!: () => void;
  const arrived = new Promise<void>((r) => (reached = r));
  let resume!: () => void;
  const resumed = new Promise<void>((r) => (resume = r));
  let paused = false;
  const hold = async (text: string) => {
    if (paused || !at.test(text)) return;
    paused = true;
    reached();
    await resumed;
  };
  return { db: afterEveryStatement(db, hold), arrived, resume };
}

/** The store as `ctx` sees it, calling `after` once each statement has run (inside a transaction or not), before its rows go back. */
export function afterEveryStatement(db: Db, after: (text: string) => Promise<void> | void): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: async <Row,>(text: string, params?: readonly unknown[]) => {
      const rows = await q.query<Row>(text, params);
      await after(text);
      return rows;
    },
    exec: (text: string) => q.exec(text),
  });
  return new Proxy(db, {
    get(target, key, receiver) {
      if (key === 'query') return wrap(target).query;
      if (key === 'transaction') return (fn: (tx: Queryable) => Promise<unknown>, options?: unknown) => target.transaction((tx) => fn(wrap(tx)), options as never);
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as Db;
}
