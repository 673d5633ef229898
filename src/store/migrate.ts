import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { LOCKS, type Db, type Queryable } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const ROUTING_FUNCTIONS = fileURLToPath(new URL('./migrations/routing/functions.sql', import.meta.url));

export interface Migration {
  version: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ version: file.replace(/\.sql$/, ''), sql: await readFile(dir + file, 'utf8') })));
}

/**
 * Applies every migration not applied yet, in one transaction under an
 * advisory lock: several processes starting at once apply each file exactly
 * once, and a failing file leaves the schema as it was.
 *
 * Then, in the same transaction, the routing functions
 * (src/store/migrations/routing/functions.sql, all `create or replace`) when their text is not
 * the one last applied. Not with an explicit list of migrations: an older
 * schema may lack the tables the functions name. The file sits inside the
 * migrations folder (in a subfolder the numbered-file listing skips) so that
 * whatever ships the migrations beside a bundled server ships it too.
 */
export async function migrate(db: Db, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const functions = migrations === undefined ? await readFile(ROUTING_FUNCTIONS, 'utf8') : undefined;
  return db.transaction(
    async (tx) => {
      await tx.query(`create table if not exists schema_migrations (version text primary key, applied_at timestamptz not null default now())`);
      const done = new Set((await tx.query<{ version: string }>('select version from schema_migrations')).map((r) => r.version));
      const applied: string[] = [];
      for (const m of all) {
        if (done.has(m.version)) continue;
        await tx.exec(m.sql);
        await tx.query('insert into schema_migrations (version) values ($1)', [m.version]);
        applied.push(m.version);
      }
      if (functions !== undefined) await applyFunctions(tx, functions);
      return applied;
    },
    { locks: [LOCKS.migrations] },
  );
}

/** Runs the routing functions' file unless this very text is the one applied last. */
async function applyFunctions(tx: Queryable, sql: string): Promise<void> {
  const sha1 = createHash('sha1').update(sql).digest('hex');
  await tx.query(`create table if not exists schema_functions (name text primary key, sha1 text not null, applied_at timestamptz not null default now())`);
  const [current] = await tx.query<{ sha1: string }>(`select sha1 from schema_functions where name = 'routing'`);
  if (current?.sha1 === sha1) return;
  await tx.exec(sql);
  await tx.query(
    `insert into schema_functions (name, sha1) values ('routing', $1)
     on conflict (name) do update set sha1 = excluded.sha1, applied_at = now()`,
    [sha1],
  );
}
