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
