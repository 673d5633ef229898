import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadMigrations, migrate, type Migration } from '../../src/store/migrate.js';
import type { Db } from '../../src/store/db.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';

export interface ScratchDatabase {
  name: string;
  /** the server URL with this database's name in it */
  url: string;
  /** Drops the database, ending any session still connected to it. */
  drop(): Promise<void>;
}

/**
 * Tests' connect deadline. The server's 5 s is meant to notice an outage; on
 * a 2-core machine running four test files and a helper's checks, a new
 * connection beside a CREATE DATABASE has taken longer, and the test failed
 * with "timeout expired" before its first statement.
 */
export const TEST_CONNECT_TIMEOUT_MS = 30_000;

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: TEST_CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  await withAdmin(adminUrl, (client) => client.query(sql));
}

function urlOf(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new, empty database on the server `adminUrl` points at, for one test run or benchmark. */
export async function createScratchDatabase(adminUrl: string, prefix: string, template?: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}${template === undefined ? '' : ` template ${template}`}`);
  return { name, url: urlOf(adminUrl, name), drop: () => adminQuery(adminUrl, `drop database if exists ${name} with (force)`) };
}

// Migrating a new database costs about a second of the server's CPU (more on
// a loaded machine), and the suite makes one for every PostgreSQL half of a
// file: hundreds. Copying a migrated database (`create database … template`)
// costs a fifth of that. The template's name carries a hash of the
// migrations and the routing functions, so a changed schema makes a new one
// and runs of different branches on one server never share a wrong one.
const TEMPLATE_PREFIX = 'sb_tpl';
/** templates this old are a schema nobody tests any more: dropped when a new one is made */
const TEMPLATE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const ROUTING_FUNCTIONS = fileURLToPath(new URL('../../src/store/migrations/routing/functions.sql', import.meta.url));

const templates = new Map<string, Promise<string>>();

/** A hash of the migrations and the routing functions (and `salt`): what a migrated database holds. */
export async function schemaHash(salt = ''): Promise<string> {
  const hash = createHash('sha1').update(salt);
  for (const m of await loadMigrations()) hash.update(`${m.version}\n${m.sql}\n`);
  hash.update(await readFile(ROUTING_FUNCTIONS, 'utf8'));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The name of a database migrated to this checkout's schema, made on the
 * first call on this server (by whichever test process gets there first:
 * the others wait on an advisory lock) and kept for later runs. Nobody
 * connects to it, so it can always be copied.
 */
export function migratedTemplate(adminUrl: string): Promise<string> {
  let made = templates.get(adminUrl);
  if (made === undefined) {
    made = makeTemplate(adminUrl);
    made.catch(() => templates.delete(adminUrl)); // the next caller tries again
    templates.set(adminUrl, made);
  }
  return made;
}

async function makeTemplate(adminUrl: string): Promise<string> {
  const name = `${TEMPLATE_PREFIX}_${await schemaHash()}`;
  return withAdmin(adminUrl, async (admin) => {
    const exists = async (datname: string) => (await admin.query('select 1 from pg_database where datname = $1', [datname])).rowCount === 1;
    if (await exists(name)) return name;
    await admin.query(`select pg_advisory_lock(hashtext('switchboard test template'))`);
    try {
      if (await exists(name)) return name; // another process made it while this one waited
      // Built under another name and renamed when complete: a process killed
      // half way never leaves a half-migrated template under the real name.
      // A building one found here (the lock is held) is such a leftover.
      const building = `${name}_building`;
      await admin.query(`drop database if exists ${building} with (force)`);
      await admin.query(`create database ${building}`);
      const db = openPostgres({ connectionString: urlOf(adminUrl, building), max: 1, connectTimeoutMs: TEST_CONNECT_TIMEOUT_MS });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      await admin.query(`alter database ${building} rename to ${name}`);
      await admin.query(`comment on database ${name} is 'switchboard test template, made ${new Date().toISOString()}'`);
      await dropOldTemplates(admin);
      return name;
    } finally {
      await admin.query(`select pg_advisory_unlock(hashtext('switchboard test template'))`);
    }
  });
}

async function dropOldTemplates(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string; note: string | null }>(
    `select datname, shobj_description(oid, 'pg_database') as note from pg_database where starts_with(datname, $1)`,
    [`${TEMPLATE_PREFIX}_`],
  );
  for (const { datname, note } of rows) {
    const made = /made (\S+)$/.exec(note ?? '')?.[1];
    if (made !== undefined && Date.now() - Date.parse(made) > TEMPLATE_MAX_AGE_MS) await admin.query(`drop database if exists ${datname} with (force)`);
  }
}

/**
 * A new database already migrated to this checkout's schema (a copy of
 * `migratedTemplate`), for a test. Its sessions commit without waiting for
 * the WAL to reach the disk (`synchronous_commit = off`): a test's commits
 * are seen by every other session as before, and the server the tests kill
 * is Switchboard's, never PostgreSQL, so nothing a test reads changes; only
 * the disk flush each commit waited for is gone (500–1,200 commits a file's
 * PostgreSQL half). The benchmarks' databases (`createScratchDatabase`) keep
 * the server's setting.
 */
export async function createMigratedScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  const scratch = await createScratchDatabase(adminUrl, prefix, await migratedTemplate(adminUrl));
  await adminQuery(adminUrl, `alter database ${scratch.name} set synchronous_commit = off`);
  return scratch;
}

/**
 * An empty store with no migration applied, for tests that migrate it step by
 * step (what a migration does to rows an earlier version left): an
 * in-memory PGlite, or a scratch database on TEST_DATABASE_URL's server.
 * `drop` closes it and removes the scratch database.
 */
export async function openUnmigratedStore(kind: 'pglite' | 'postgres'): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openPglite();
    return { db, drop: () => db.close() };
  }
  const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL!, 'sb_test');
  const db = openPostgres({ connectionString: scratch.url, max: 2, connectTimeoutMs: TEST_CONNECT_TIMEOUT_MS });
  return {
    db,
    drop: async () => {
      await db.close();
      await scratch.drop();
    },
  };
}

/**
 * An unmigrated store (openUnmigratedStore) brought up to just before
 * migration `version`: the schema an earlier version left, for a test to
 * put rows in and then migrate(db) the rest. `all`: every migration.
 */
export async function storeMigratedBefore(kind: 'pglite' | 'postgres', version: string): Promise<{ db: Db; drop: () => Promise<void>; all: Migration[] }> {
  const store = await openUnmigratedStore(kind);
  try {
    const all = await loadMigrations();
    await migrate(store.db, all.filter((m) => m.version < version));
    return { ...store, all };
  } catch (error) {
    await store.drop();
    throw error;
  }
}
