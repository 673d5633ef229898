import pg from 'pg';
import { lockStatement, type Db, type Queryable, type TransactionOptions } from './db.js';

// int8 and numeric come back from `pg` as strings by default; Switchboard's
// bigint columns (event and message ids, counts) all fit in a double, and PGlite
// already returns numbers, so both stores answer alike.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PostgresOptions {
  connectionString: string;
  max?: number;
}

export function openPostgres(options: PostgresOptions): Db & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    types: types as pg.CustomTypesConfig,
  });
  // An idle client that loses its connection (server restart) must not crash
  // the process; the pool replaces it on next use.
  pool.on('error', () => {});

  const run = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    async exec(text: string) {
      await client.query(text);
    },
  });

  return {
    kind: 'postgres',
    pool,
    ...run(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      const client = await pool.connect();
      let broken = false;
      try {
        const locks = opts?.locks ?? [];
        await client.query(locks.length > 0 ? `begin; ${lockStatement(locks)}` : 'begin');
        const value = await fn(run(client));
        await client.query('commit');
        return value;
      } catch (error) {
        try {
          await client.query('rollback');
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
