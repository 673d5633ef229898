import { after, before, describe } from 'node:test';
import type { Config } from '../../src/config.js';
import { defaultSettings, seedSettings } from '../../src/settings/settings.js';
import { LOCKS, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { openMemoryStore } from '../../src/store/memory.js';
import { openPostgres } from '../../src/store/postgres.js';
import './pglite-template.js';
import { createMigratedScratchDatabase, TEST_CONNECT_TIMEOUT_MS } from './scratch-database.js';

export type StoreKind = 'pglite' | 'postgres';

// The fixtures create hundreds of agents: their passwords are hashed at a test
// cost (1 MiB) instead of OWASP's 128 MiB, which takes seconds on a busy machine.
export { TEST_PASSWORD_COST } from './password-cost.js';

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

/** Every table but the migrations' record and the event consumers' cursors (rewound instead), with the sequences each owns. */
async function allTables(db: Db): Promise<{ name: string; sequences: string[] }[]> {
  const rows = await db.query<{ name: string; sequences: string[] }>(
    `select quote_ident(t.tablename) as name,
            coalesce(array_agg(quote_ident(sn.nspname) || '.' || quote_ident(s.relname) order by s.relname)
                       filter (where s.oid is not null), '{}') as sequences
       from pg_tables t
       join pg_class c on c.oid = format('%I.%I', t.schemaname, t.tablename)::regclass
       left join pg_depend d on d.refclassid = 'pg_class'::regclass and d.refobjid = c.oid
                            and d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
       left join pg_class s on s.oid = d.objid and s.relkind = 'S'
       left join pg_namespace sn on sn.oid = s.relnamespace
      where t.schemaname = 'public' and t.tablename not in ('schema_migrations', 'outbox_cursors')
      group by t.tablename order by t.tablename`,
  );
  return rows;
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
    db = openPostgres({ connectionString: url, max: options.poolSize ?? 10, connectTimeoutMs: TEST_CONNECT_TIMEOUT_MS });
    drop = scratch.drop;
    await migrate(db);
  }
  const tables = await allTables(db);
  const everyTable = tables.map((t) => t.name).join(', ');
  // Which tables hold rows and which of their sequences have been drawn
  // from, in one statement (the test of a sequence reads its one row).
  const used = tables
    .flatMap((t) => [
      `select 'table' as what, '${t.name}' as name where exists (select from ${t.name})`,
      ...t.sequences.map((seq) => `select 'sequence', '${seq}' where (select is_called from ${seq})`),
    ])
    .join(' union all ');
  const owner = new Map(tables.flatMap((t) => t.sequences.map((seq) => [seq, t.name] as const)));
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
              // Emptied as `truncate <every table> restart identity` would,
              // but only the tables that hold rows are truncated: truncating
              // all 35 (new files for each table and index) took 250 ms on
              // PGlite and 750 ms on PostgreSQL at load 20, before every
              // test. The locks, the same as the truncate's, come first:
              // whatever is still writing finishes (or waits) before the
              // tables are looked at.
              await tx.query(`lock table ${everyTable} in access exclusive mode`);
              const found = await tx.query<{ what: 'table' | 'sequence'; name: string }>(used);
              const full = found.filter((r) => r.what === 'table').map((r) => r.name);
              if (full.length > 0) await tx.query(`truncate ${full.join(', ')} restart identity cascade`);
              // a sequence drawn from for rows since deleted or rolled back
              for (const r of found) {
                if (r.what === 'sequence' && !full.includes(owner.get(r.name)!)) await tx.query(`alter sequence ${r.name} restart`);
              }
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
