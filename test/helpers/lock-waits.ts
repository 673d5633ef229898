// For the PostgreSQL tests that hold a lock from a second connection: when
// the call under test has reached the lock and waits there, the test may go
// on (release it, change what the call will read) knowing where it stands.
import { afterEach, beforeEach } from 'node:test';
import pg from 'pg';
import type { Db } from '../../src/store/db.js';
import { openTestStore, type TestStore } from './stores.js';

export interface WithLockHolder {
  /** this test's store */
  store(): TestStore;
  /** this test's second connection to it */
  holder(): pg.Client;
}

/**
 * Before each test: a PostgreSQL store of its own, emptied, and a second
 * connection to it (`holder`) for the test to hold locks on; then `setUp`
 * (an app on the store, say), whose returned function is called after the
 * test, once the holder has ended and before the store closes.
 */
export function eachTestWithLockHolder(setUp: (store: TestStore) => Promise<(() => Promise<void>) | void>): WithLockHolder {
  let store: TestStore | undefined;
  let holder: pg.Client | undefined;
  let tearDown: (() => Promise<void>) | void = undefined;
  beforeEach(async () => {
    store = await openTestStore('postgres', { poolSize: 4 });
    await store.reset();
    holder = new pg.Client({ connectionString: store.url });
    await holder.connect();
    tearDown = await setUp(store);
  });
  afterEach(async () => {
    await holder?.end();
    await tearDown?.();
    await store?.close();
    [store, holder, tearDown] = [undefined, undefined, undefined];
  });
  return { store: () => store!, holder: () => holder! };
}

/** Resolves once `backends` backends of this database (one unless said) wait on a lock while running a query whose text contains `text`. */
export async function waitingOnLock(db: Db, text: string, ms = 5_000, backends = 1): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await waiting(db, text)) >= backends) return;
    if (Date.now() > deadline) throw new Error(`${backends === 1 ? 'no query' : `fewer than ${backends} queries`} naming ${text} waited on a lock within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Resolves once `pending` has settled, or once a backend of this database waits on a lock
 * while running a query whose text contains `text`: for a call that waits under one lock
 * order and runs through under another, so the test goes on knowing which it did.
 */
export async function settledOrWaiting(db: Db, text: string, pending: Promise<unknown>, ms = 5_000): Promise<'settled' | 'waiting'> {
  let settled = false;
  void pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  const deadline = Date.now() + ms;
  for (;;) {
    if (settled) return 'settled';
    if ((await waiting(db, text)) > 0) return 'waiting';
    if (Date.now() > deadline) throw new Error(`a query naming ${text} neither finished nor waited on a lock within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How many other backends of this database wait on a lock while running a query whose text contains `text`. */
async function waiting(db: Db, text: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and strpos(query, $1) > 0 and pid <> pg_backend_pid()`,
    [text],
  );
  return row!.n;
}
