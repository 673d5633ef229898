import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';
import { describeEachStore, openTestStore, storeKinds } from '../helpers/stores.js';

describeEachStore('store', (store) => {
  it('applies each migration once, however often migrate runs', async () => {
    const files = await loadMigrations();
    assert.ok(files.length >= 1);
    assert.deepEqual(await migrate(store().db), [], 'the test store is already migrated');
    const rows = await store().db.query<{ version: string }>('select version from schema_migrations order by version');
    assert.deepEqual(rows.map((r) => r.version), files.map((f) => f.version));
  });

  it('applies nothing of a migration set that fails part-way', async () => {
    const broken = [
      { version: '9001_ok', sql: 'create table probe_ok (id int);' },
      { version: '9002_bad', sql: 'create table probe_bad (id int); select no_such_function();' },
    ];
    await assert.rejects(migrate(store().db, broken));
    const [row] = await store().db.query<{ n: number }>(
      "select count(*)::int as n from information_schema.tables where table_name in ('probe_ok', 'probe_bad')",
    );
    assert.equal(row!.n, 0);
    const [recorded] = await store().db.query<{ n: number }>("select count(*)::int as n from schema_migrations where version like '900%'");
    assert.equal(recorded!.n, 0);
  });

  it('rolls a transaction back when its work throws', async () => {
    await assert.rejects(
      store().db.transaction(async (tx) => {
        await tx.query("insert into settings (key, value, updated_at) values ('probe', '1', now())");
        throw new Error('boom');
      }),
      /boom/,
    );
    const rows = await store().db.query("select key from settings where key = 'probe'");
    assert.deepEqual(rows, []);
  });

  it('commits a final statement with the transaction, its parameters intact however they are spelled', async () => {
    const tricky = `O'Brien \\ "quoted" \\n ünïcødé 😀 $1 --`;
    let rows: unknown[] = [];
    await store().db.transaction(async () => 'done', {
      final: () => ({
        text: 'select $1::text as a, $2::text[] as b, $3::jsonb as c, $4::timestamptz as d, $5::int as e, $6::text as f',
        params: [tricky, [tricky, null], JSON.stringify({ name: tricky }), new Date('2026-01-02T03:04:05.678Z'), 42, null],
        rows: (r) => (rows = r),
      }),
    });
    assert.deepEqual(rows, [{ a: tricky, b: [tricky, null], c: { name: tricky }, d: new Date('2026-01-02T03:04:05.678Z'), e: 42, f: null }]);
  });

  it('returns bigint counts and ids as numbers on both stores', async () => {
    const [row] = await store().db.query<{ n: unknown }>('select count(*) as n from settings');
    assert.equal(typeof row!.n, 'number');
  });
});

describe('embedded store on disk', () => {
  it('keeps its data in DATA_DIR across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-pglite-'));
    try {
      const first = await openPglite(dir);
      await migrate(first);
      await first.query("insert into settings (key, value, updated_at) values ('max_customers', '7', now())");
      await first.close();
      const second = await openPglite(dir);
      assert.deepEqual(await migrate(second), [], 'already migrated');
      const [row] = await second.query<{ value: number }>("select value from settings where key = 'max_customers'");
      assert.equal(row!.value, 7);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

if (storeKinds().includes('postgres')) {
  describe('PostgreSQL migrations from several processes', () => {
    it('applies each file exactly once when several pools migrate at the same moment', async () => {
      const fresh = await openTestStore('postgres');
      try {
        await fresh.db.exec('drop schema public cascade; create schema public;');
        const pools = Array.from({ length: 4 }, () => openPostgres({ connectionString: fresh.url!, max: 1 }));
        const applied = await Promise.all(pools.map((db) => migrate(db)));
        await Promise.all(pools.map((db) => db.close()));
        assert.equal(applied.flat().length, (await loadMigrations()).length, 'every file once in total');
      } finally {
        await fresh.close();
      }
    });
  });
}
