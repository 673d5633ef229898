import { mkdir } from 'node:fs/promises';
import type { Db } from './db.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

/** A PostgreSQL server when a URL is given, embedded PGlite in `dataDir` otherwise. */
export async function openStore(options: { databaseUrl?: string | undefined; dataDir: string; poolSize?: number }): Promise<Db> {
  if (options.databaseUrl !== undefined) {
    const db = openPostgres({ connectionString: options.databaseUrl, max: options.poolSize });
    await db.query('select 1');
    return db;
  }
  await mkdir(options.dataDir, { recursive: true });
  return openPglite(options.dataDir);
}
