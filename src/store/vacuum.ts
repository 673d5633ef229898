import type { Db, Queryable } from './db.js';

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
 * time, so they get their turn in between, and shared between callers
 * (rewrite).
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
  await rewrite(db, tables);
}

/**
 * The full rewrites of one store, shared: a caller gets the promise of the
 * first pass that starts after its call, and the tables asked for while a
 * pass waits join it. Erasures at once (a script erasing a customer's
 * conversations in parallel) then rewrite the big tables once or twice,
 * not once each, and each answer still waits for a rewrite made after its
 * own commit.
 */
interface Rewrites {
  /** asked for, not yet in a pass */
  tables: Set<string>;
  /** the pass that will take them, not started yet */
  next: Promise<void> | null;
  /** the pass running */
  running: Promise<void> | null;
}
const rewrites = new WeakMap<Db, Rewrites>();

function rewrite(db: Db, tables: readonly string[]): Promise<void> {
  let state = rewrites.get(db);
  if (!state) rewrites.set(db, (state = { tables: new Set(), next: null, running: null }));
  const s = state;
  for (const table of tables) s.tables.add(table);
  if (s.next) return s.next;
  // after the running pass, whatever became of it: its failure is its own callers'
  const pass: Promise<void> = (s.running ?? Promise.resolve())
    .catch(() => undefined)
    .then(async () => {
      const batch = [...s.tables];
      s.tables.clear();
      s.next = null;
      s.running = pass;
      try {
        for (const table of batch) {
          // Forgotten once rewritten, and only if not noted again since the rewrite began: a
          // rewrite that fails, or a process stopped during one, leaves it for the next.
          const [noted] = await db.query<{ noted_at: Date }>('select noted_at from unreclaimed_tables where name = $1', [table]);
          await db.query(`vacuum full ${table}`);
          if (noted) await db.query('delete from unreclaimed_tables where name = $1 and noted_at <= $2', [table, noted.noted_at]);
        }
      } finally {
        if (s.running === pass) s.running = null;
      }
    });
  s.next = pass;
  return pass;
}

/**
 * On PGlite, in the transaction that deletes or rewrites rows of `tables`
 * outside an erasure (`kind`, the store's): notes that their files still
 * hold those rows' bytes, so that the next erasure rewrites them too
 * (unreclaimedTables). Nothing on PostgreSQL.
 */
export async function noteUnreclaimed(tx: Queryable, kind: Db['kind'], tables: readonly string[]): Promise<void> {
  if (kind !== 'pglite' || tables.length === 0) return;
  await tx.query(UPSERT_UNRECLAIMED('$1'), [tables]);
}

/** noteUnreclaimed's parameter for a statement that deletes on its own (NOTE_UNRECLAIMED): the tables on PGlite, none on PostgreSQL. */
export const unreclaimedOn = (kind: Db['kind'], tables: readonly string[]): string[] => (kind === 'pglite' ? [...tables] : []);

/**
 * noteUnreclaimed as a CTE of the deleting statement itself (one statement,
 * no transaction of its own): names the tables in `param` (a text[]
 * parameter, unreclaimedOn) when the CTE `deleted` deleted anything.
 */
export const NOTE_UNRECLAIMED = (param: string, deleted: string): string => UPSERT_UNRECLAIMED(param, `exists (select 1 from ${deleted})`);

/** The tables in `param` (text[]) noted now, when `when` holds. */
const UPSERT_UNRECLAIMED = (param: string, when = 'true'): string => /* sql */ `
       insert into unreclaimed_tables (name, noted_at)
       select unnest(${param}::text[]), clock_timestamp() where ${when}
       on conflict (name) do update set noted_at = excluded.noted_at`;

/** The tables noteUnreclaimed named since their last full rewrite: an erasure rewrites them with its own. */
export async function unreclaimedTables(db: Db): Promise<string[]> {
  if (db.kind !== 'pglite') return [];
  return (await db.query<{ name: string }>('select name from unreclaimed_tables order by name')).map((r) => r.name);
}
