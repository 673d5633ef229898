import { mkdir } from 'node:fs/promises';
import type { Db } from './db.js';

/**
 * A PostgreSQL server when a URL is given, embedded PGlite in `dataDir`
 * otherwise. Each driver is imported only when chosen: PGlite alone adds
 * tens of megabytes to a server that talks to PostgreSQL.
 */
export async function openStore(options: {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}): Promise<Db> {
  if (options.databaseUrl !== undefined) {
    const { openPostgres } = await import('./postgres.js');
    const db = openPostgres({
      connectionString: options.databaseUrl,
      max: options.poolSize,
      connectTimeoutMs: options.connectTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs,
    });
    await db.query('select 1');
    return db;
  }
  await mkdir(options.dataDir, { recursive: true });
  const { openPglite } = await import('./pglite.js');
  return openPglite(options.dataDir);
}
