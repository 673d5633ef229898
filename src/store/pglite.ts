import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, TransactionOptions } from './db.js';

/**
 * Embedded PostgreSQL. `dataDir` undefined keeps everything in memory (tests,
 * the simulator). PGlite is one connection in one process: its own mutex
 * runs transactions one at a time.
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
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, _options?: TransactionOptions): Promise<T> {
      // No advisory locks here: PGlite is one connection whose mutex runs one
      // transaction at a time, which is everything the locks guarantee on a
      // server, and each statement into the WASM engine costs a round of its own.
      return pglite.transaction(async (tx) => {
        const value = await fn(wrap(tx));
        const final = _options?.final?.();
        if (final) final.rows((await tx.query(final.text, final.params as unknown[])).rows);
        return value;
      });
    },
    async close() {
      await pglite.close();
    },
  };
}
