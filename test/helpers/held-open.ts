import type { Db, Queryable } from '../../src/store/db.js';

/**
 * Runs `first` in a transaction kept open until release() is called, so that another
 * connection's change meets its locks: `ran` resolves once `first` has run (its locks are
 * held), `done` once the transaction has committed.
 */
export function heldOpen<T>(db: Db, first: (tx: Queryable) => Promise<T>): { done: Promise<T>; ran: Promise<T>; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let ran!: (value: T) => void;
  const ranPromise = new Promise<T>((resolve) => (ran = resolve));
  const done = db.transaction(async (tx) => {
    const value = await first(tx);
    ran(value);
    await gate;
    return value;
  });
  return { done, ran: ranPromise, release };
}
