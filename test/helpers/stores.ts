import { after, before, describe } from 'node:test';
import { setPasswordCostForTests } from '../../src/agents/passwords.js';
import type { Config } from '../../src/config.js';
import { defaultSettings, seedSettings } from '../../src/settings/settings.js';
import { LOCKS, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { openMemoryStore } from '../../src/store/memory.js';
import { openPostgres } from '../../src/store/postgres.js';
import './pglite-template.js';
import { createMigratedScratchDatabase } from './scratch-database.js';

export type StoreKind = 'pglite' | 'postgres';

// The fixtures create hundreds of agents: their passwords are hashed at a test
// cost (1 MiB) instead of OWASP's 128 MiB, which takes seconds on a busy machine.
export const TEST_PASSWORD_COST = { N: 1024, r: 8, p: 1 };
setPasswordCostForTests(TEST_PASSWORD_COST);

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL names a server. */
export function storeKinds(): StoreKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestStore {
  kind: StoreKind;
  db: Db;
  /** for PostgreSQL: the URL of this run's own database (other processes can join it) */
  url?: string;
  /** Empties every table and restores default settings. */
  reset(settings?: Partial<ReturnType<typeof defaultSettings>>): Promise<void>;
  close(): Promise<void>;
}

export const TEST_DEFAULTS = defaultSettings({
  maxCustomers: 2,
  attendantKeepAliveMs: 30_000,
  agentOfflineGraceMs: 60_000,
  offlinePolicy: 'requeue',
} as Config);

/** Every table but the migrations' record and the event consumers' cursors (rewound instead). */
async function allTables(db: Db): Promise<string> {
  const rows = await db.query<{ name: string }>(
    `select quote_ident(tablename) as name from pg_tables
      where schemaname = 'public' and tablename not in ('schema_migrations', 'outbox_cursors') order by tablename`,
  );
  return rows.map((r) => r.name).join(', ');
}

/** A fresh, migrated store: an in-memory PGlite, or a new database on the PostgreSQL server, dropped on close. */
export async function openTestStore(kind: StoreKind, options: { poolSize?: number } = {}): Promise<TestStore> {
  let db: Db;
  let url: string | undefined;
  let drop = async () => {};
  if (kind === 'pglite') {
    db = await openMemoryStore();
  } else {
    // a copy of a migrated template: migrate() below then finds nothing to do
    const scratch = await createMigratedScratchDatabase(process.env.TEST_DATABASE_URL!, 'sb_test');
    url = scratch.url;
    db = openPostgres({ connectionString: url, max: options.poolSize ?? 10 });
    drop = scratch.drop;
    await migrate(db);
  }
  const tables = await allTables(db);
  const store: TestStore = {
    kind,
    db,
    ...(url ? { url } : {}),
    async reset(settings = {}) {
      // A suite's server may still be settling the last test's work (a
      // disconnect setting an agent offline, a sweep). Holding the routing
      // lock keeps routing changes out; anything else that locks rows in
      // another order than the truncate may deadlock with it, and PostgreSQL
      // then aborts one side: the truncate is tried again.
      for (let attempt = 1; ; attempt++) {
        try {
          await db.transaction(
            async (tx) => {
              await tx.query(`truncate ${tables} restart identity cascade`);
              // event ids restart, so every consumer of the event log starts from the beginning again
              await tx.query('update outbox_cursors set last_xid_bound = 0, last_event_id = 0');
            },
            { locks: [LOCKS.routing] },
          );
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
        }
      }
      await seedSettings(db, { ...TEST_DEFAULTS, ...settings }, new Date());
    },
    async close() {
      await db.close();
      await drop();
    },
  };
  await store.reset();
  return store;
}

/**
 * Runs the suite once per store kind, each with its own fresh store, so
 * every database test passes on embedded PGlite and on PostgreSQL.
 */
export function describeEachStore(title: string, suite: (store: () => TestStore) => void): void {
  for (const kind of storeKinds()) {
    describe(`${title} [${kind}]`, () => {
      let store: TestStore | undefined;
      before(async () => {
        store = await openTestStore(kind);
      });
      after(async () => {
        await store?.close();
      });
      suite(() => store!);
    });
  }
}
