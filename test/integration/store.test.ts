import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
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

  it('runs a one-statement transaction with its parameters intact however they are spelled, the first call and the next', async () => {
    const tricky = `O'Brien \\ "quoted" \\n ünïcødé 😀 $1 --`;
    const text = 'select $1::text as a, $2::text[] as b, $3::jsonb as c, $4::timestamptz as d, $5::int as e, $6::text as f, $7::uuid[] as g';
    const params = [tricky, [tricky, null], JSON.stringify({ name: tricky }), new Date('2026-01-02T03:04:05.678Z'), 42, null, ['00000000-0000-0000-0000-00000000000a']];
    const expected = [{ a: tricky, b: [tricky, null], c: { name: tricky }, d: new Date('2026-01-02T03:04:05.678Z'), e: 42, f: null, g: ['00000000-0000-0000-0000-00000000000a'] }];
    assert.deepEqual(await store().db.transactOne(text, params), expected);
    assert.deepEqual(await store().db.transactOne(text, params), expected);
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

describe('embedded store: statements prepared once, bound many times', () => {
  let db: Awaited<ReturnType<typeof openPglite>>;
  before(async () => {
    db = await openPglite();
    await db.exec(`create table probe (id int primary key, name text not null, tags text[], doc jsonb, at timestamptz, ref uuid);`);
  });
  after(() => db.close());
  beforeEach(() => db.exec('truncate probe'));

  const ROUND_TRIP = 'select $1::text as t, $2::int[] as a, $3::jsonb as j, $4::timestamptz as d, $5::uuid as u, $6::int8 as b';

  it('binds each call\'s own values to a reused statement: nulls, arrays, jsonb, dates, uuids, bigints', async () => {
    const values = ['x', [1, null, 3], { name: "O'Brien", nested: [1, { a: true }] }, new Date('2026-01-02T03:04:05.678Z'), '6f1c0f3e-8d3a-4c55-9a53-1f2e3d4c5b6a', 9007199254740993n];
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await db.query(ROUND_TRIP, [null, null, null, null, null, null]), [{ t: null, a: null, j: null, d: null, u: null, b: null }]);
      assert.deepEqual(await db.query(ROUND_TRIP, values), [
        { t: 'x', a: [1, null, 3], j: { name: "O'Brien", nested: [1, { a: true }] }, d: new Date('2026-01-02T03:04:05.678Z'), u: values[4], b: 9007199254740993n },
      ]);
      assert.deepEqual(await db.query(ROUND_TRIP, ['', [], [], new Date(0), values[4], 7n]), [
        { t: '', a: [], j: [], d: new Date(0), u: values[4], b: 7 },
      ]);
    }
    // The placeholders' types come from the columns when the text names none.
    const insert = 'insert into probe (id, name, tags, doc, at, ref) values ($1, $2, $3, $4, $5, $6) returning *';
    await db.query(insert, [1, 'one', ['a', 'b,c'], { k: 1 }, new Date('2026-03-04T05:06:07Z'), values[4]]);
    await db.query(insert, [2, 'two', null, null, null, null]);
    assert.deepEqual(await db.query('select id, name, tags, doc, at, ref from probe where id = any($1) order by id', [[1, 2]]), [
      { id: 1, name: 'one', tags: ['a', 'b,c'], doc: { k: 1 }, at: new Date('2026-03-04T05:06:07Z'), ref: values[4] },
      { id: 2, name: 'two', tags: null, doc: null, at: null, ref: null },
    ]);
  });

  it('keeps each statement\'s own columns when many are cached side by side', async () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await db.query('select $1::int + 1 as next', [i]), [{ next: i + 1 }]);
      assert.deepEqual(await db.query('select $1::text || \'!\' as shout, $1::text as said', [`hi${i}`]), [{ shout: `hi${i}!`, said: `hi${i}` }]);
      assert.deepEqual(await db.query('select $1::bool as flag where $1', [i % 2 === 0]), i % 2 === 0 ? [{ flag: true }] : []);
    }
  });

  it('reads a reply far larger than one write of the server: every row whole, multi-byte text across the seams', async () => {
    // About 2 MB of rows: PGlite hands its output over in pieces, and rows
    // (and the characters in them) are cut between pieces.
    const rows = await db.query<{ n: number; text: string }>(`select n, repeat('é😀', 40) || n as text from generate_series(1, $1::int) as n`, [10_000]);
    assert.equal(rows.length, 10_000);
    rows.forEach((row, i) => assert.deepEqual(row, { n: i + 1, text: `${'é😀'.repeat(40)}${i + 1}` }));
  });

  it('surfaces errors with their SQLSTATE and stays usable', async () => {
    const insert = 'insert into probe (id, name) values ($1, $2)';
    await db.query(insert, [1, 'one']);
    await assert.rejects(db.query(insert, [1, 'again']), (e: { code?: string; constraint?: string }) => e.code === '23505' && e.constraint === 'probe_pkey');
    await assert.rejects(db.query('select $1::int as n', ['not a number']), (e: { code?: string }) => e.code === '22P02');
    await assert.rejects(db.query('select from no_such_table where id = $1', [1]), (e: { code?: string }) => e.code === '42P01');
    assert.deepEqual(await db.query('select $1::int as n', ['12']), [{ n: 12 }]);
    await db.query(insert, [2, 'two']);
    assert.deepEqual(await db.query('select id from probe order by id'), [{ id: 1 }, { id: 2 }]);
  });

  it('rolls back everything a transaction did when one of its statements fails', async () => {
    const insert = 'insert into probe (id, name) values ($1, $2)';
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(insert, [1, 'one']);
        await tx.query(insert, [2, 'two']);
        await tx.query(insert, [1, 'duplicate']);
      }),
      (e: { code?: string }) => e.code === '23505',
    );
    // a failure caught inside the work still aborts the transaction
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(insert, [3, 'three']);
        await tx.query('select $1::int', ['x']).catch(() => undefined);
      }),
      (e: { code?: string }) => e.code === '25P02',
    );
    assert.deepEqual(await db.query('select id from probe'), []);
    await db.transaction(async (tx) => {
      await Promise.all([tx.query(insert, [4, 'four']), tx.query(insert, [5, 'five'])]);
    });
    assert.deepEqual(await db.query('select id from probe order by id'), [{ id: 4 }, { id: 5 }]);
  });

  it('makes a statement issued during a transaction wait for its end instead of running inside it', async () => {
    let inside!: () => void;
    const started = new Promise<void>((resolve) => (inside = resolve));
    let finish!: () => void;
    const release = new Promise<void>((resolve) => (finish = resolve));
    const work = db.transaction(async (tx) => {
      await tx.query('insert into probe (id, name) values ($1, $2)', [1, 'uncommitted']);
      inside();
      await release;
      throw new Error('roll back');
    });
    await started;
    let settled = false;
    const count = db.query<{ n: number }>('select count(*)::int as n from probe where id = any($1)', [[1, 2]]).finally(() => (settled = true));
    // Were it run inside the transaction, this insert would be rolled back with it.
    const insert = db.query('insert into probe (id, name) values ($1, $2)', [2, 'outside']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, 'still waiting while the transaction is open');
    finish();
    await assert.rejects(work, /roll back/);
    assert.deepEqual(await count, [{ n: 0 }]);
    await insert;
    assert.deepEqual(await db.query('select id, name from probe'), [{ id: 2, name: 'outside' }]);
  });

  it('parses a statement again when a table it reads changes shape', async () => {
    await db.query('insert into probe (id, name) values ($1, $2)', [1, 'one']);
    const read = 'select * from probe where id = $1';
    assert.deepEqual(Object.keys((await db.query(read, [1]))[0]!), ['id', 'name', 'tags', 'doc', 'at', 'ref']);
    await db.query('alter table probe add column extra text');
    try {
      assert.deepEqual(Object.keys((await db.query(read, [1]))[0]!), ['id', 'name', 'tags', 'doc', 'at', 'ref', 'extra']);
    } finally {
      await db.query('alter table probe drop column extra');
    }
    assert.deepEqual(Object.keys((await db.query(read, [1]))[0]!), ['id', 'name', 'tags', 'doc', 'at', 'ref']);
  });

  it('closes the least recently used statement beyond its cap and still answers every statement', async () => {
    const small = await openPglite(undefined, { planCacheSize: 3 });
    try {
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < 8; k++) {
          assert.deepEqual(await small.query(`select $1::int * ${k} as v`, [round + 1]), [{ v: (round + 1) * k }]);
        }
        const [open] = await small.query<{ n: number }>("select count(*)::int as n from pg_prepared_statements where name like 'sb\\_%'");
        assert.equal(open!.n, 3, 'the cap: 3 statements kept prepared');
      }
      // least recently used goes first: touch ×5, then a new statement closes ×6 (not ×5 or ×7)
      await small.query('select $1::int * 5 as v', [1]);
      await small.query('select $1::int * 100 as v', [1]);
      const kept = (await small.query<{ statement: string }>("select statement from pg_prepared_statements where name like 'sb\\_%'")).map((r) => r.statement).sort();
      assert.deepEqual(kept, ['select $1::int * 100 as v', 'select $1::int * 5 as v', 'select $1::int * 7 as v']);
      await small.transaction(async (tx) => {
        for (let k = 0; k < 8; k++) assert.deepEqual(await tx.query(`select $1::int * ${k} as v`, [2]), [{ v: 2 * k }]);
      });
    } finally {
      await small.close();
    }
  });
});

if (storeKinds().includes('postgres')) {
  describe('PostgreSQL: a one-statement transaction prepared once a connection', () => {
    it('parses and plans its statement once on a connection, then executes it; one the server cannot prepare is sent inlined', async () => {
      const fresh = await openTestStore('postgres');
      // One connection, so every call below is on the session that prepared.
      const db = openPostgres({ connectionString: fresh.url!, max: 1 });
      try {
        const text = 'select $1::int + $2::int as sum';
        for (let i = 0; i < 3; i++) assert.deepEqual(await db.transactOne(text, [i, 10]), [{ sum: i + 10 }]);
        const prepared = await db.query<{ statement: string; parameter_types: string[]; runs: number }>(
          'select statement, parameter_types::text[], (generic_plans + custom_plans)::int as runs from pg_prepared_statements where statement like $1',
          ['%$1::int + $2::int%'],
        );
        assert.deepEqual(prepared.map((p) => [p.parameter_types, p.runs]), [[['integer', 'integer'], 3]], 'prepared once, executed three times');
        // No type for $1 (PREPARE refuses it): the statement still runs, with its value inlined.
        assert.deepEqual(await db.transactOne('select $1 is null as none', [null]), [{ none: true }]);
        assert.deepEqual(await db.transactOne('select $1 is null as none', ['x']), [{ none: false }]);
      } finally {
        await db.close();
        await fresh.close();
      }
    });
  });

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
