import type { Db } from './db.js';

/**
 * VACUUMs these tables when the store is embedded PGlite; does nothing on
 * PostgreSQL, whose autovacuum does it in the background. PGlite is one
 * backend with no autovacuum: the space of deleted and rewritten rows was
 * never given back, and their bytes stayed in the files of DATA_DIR.
 *
 * A plain VACUUM makes that space reusable (and gives back the empty pages
 * at a table's end), but a removed row's bytes stay in its page until a new
 * row is written over them. `full` rewrites each table and its indexes into
 * new files and drops the old ones: nothing of a removed row is left in
 * them. It costs a read and write of the whole table (about 40 ms a MB on a
 * quiet machine), during which every other statement waits: one table at a
 * time, so they get their turn in between.
 *
 * Each a statement of its own, outside any transaction (VACUUM cannot run in
 * one), with db.query: db.exec (a script) drops every prepared statement of
 * the session.
 */
export async function vacuumOnPglite(db: Db, tables: readonly string[], options: { full?: boolean } = {}): Promise<void> {
  if (db.kind !== 'pglite' || tables.length === 0) return;
  if (!options.full) {
    await db.query(`vacuum ${tables.join(', ')}`);
    return;
  }
  for (const table of tables) await db.query(`vacuum full ${table}`);
}
