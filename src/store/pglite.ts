import { PGlite } from '@electric-sql/pglite';
import { lockStatement, type Db, type Queryable, type TransactionOptions } from './db.js';

/**
 * Embedded PostgreSQL. `dataDir` undefined keeps everything in memory (tests,
 * the simulator). PGlite is one connection: its own mutex already runs
 * transactions one at a time, and the advisory locks are taken anyway so the
 * SQL is the same as on a server.
 */
export async function openPglite(dataDir?: string): Promise<Db & { pglite: PGlite }> {
  // On disk the operating system's page cache already holds the files; 16 MB
  // of shared buffers instead of 128 MB keeps the server's memory small.
  const pglite = await PGlite.create(
    dataDir === undefined ? {} : { dataDir, startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] },
  );
  const wrap = (target: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await target.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(text: string) {
      await target.exec(text);
    },
  });
  return {
    kind: 'pglite',
    pglite,
    ...wrap(pglite),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      return pglite.transaction(async (tx) => {
        const locks = opts?.locks ?? [];
        if (locks.length > 0) await tx.query(lockStatement(locks));
        return fn(wrap(tx));
      });
    },
    async close() {
      await pglite.close();
    },
  };
}
