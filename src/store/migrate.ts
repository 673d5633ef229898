import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LOCKS, type Db } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

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
 */
export async function migrate(db: Db, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
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
      return applied;
    },
    { locks: [LOCKS.migrations] },
  );
}
