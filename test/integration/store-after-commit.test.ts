// Db.transactOneThen: one statement as a transaction of its own and, in the
// same round trip, a statement after its COMMIT (the queued open's place,
// src/conversations/lifecycle.ts). That statement must run once the work is
// committed, outside the locks the work took; a failing first statement
// must roll back and leave the second unrun; a failing second one must
// leave the work committed and returned.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { describeEachStore } from '../helpers/stores.js';

/** An advisory lock key no one else takes. */
const PROBE_LOCK = 7_399_201;

describeEachStore('store: a statement after the commit', (store) => {
  beforeEach(() => store().reset());

  const settingKeys = async () =>
    (await store().db.query<{ key: string }>("select key from settings where key like 'probe-%' order by key")).map((r) => r.key);

  it('runs the statement after the COMMIT, on the same session, outside the locks the work took', async () => {
    // The work takes a transaction-scoped lock, writes, and leaves its
    // transaction id in a session setting for the statement after it.
    const { rows, after } = await store().db.transactOneThen<{ key: string; xid: string }, { status: string; held: number; sees: number }>(
      `with w as (insert into settings (key, value, updated_at) values ($1, '1', now()) returning key)
       select w.key, set_config('probe.xid', pg_current_xact_id()::text, false) as xid, pg_try_advisory_xact_lock($2::bigint) as locked from w`,
      ['probe-main', PROBE_LOCK],
      {
        text: `select pg_xact_status(current_setting('probe.xid')::xid8) as status,
                      (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and objid = $1::bigint) as held,
                      (select count(*)::int from settings where key = $2) as sees`,
        params: [PROBE_LOCK, 'probe-main'],
      },
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.key, 'probe-main');
    assert.deepEqual(after, [{ status: 'committed', held: 0, sees: 1 }], 'the work had committed and released its lock when the statement after it ran');
  });

  it('rolls the work back when its statement fails, and does not run the statement after it', async () => {
    await assert.rejects(
      store().db.transactOneThen(
        // the insert runs, then the cast fails: the statement fails after writing
        `with w as (insert into settings (key, value, updated_at) values ($1, '1', now()) returning key) select key::int from w`,
        ['probe-main'],
        { text: `insert into settings (key, value, updated_at) values ($1, '1', now()) returning key`, params: ['probe-then'] },
      ),
      /invalid input syntax/,
    );
    assert.deepEqual(await settingKeys(), [], 'neither the work nor the statement after it');
    // the store is usable at once (PostgreSQL: the connection went back rolled back)
    const { rows, after } = await store().db.transactOneThen<{ key: string }, { n: number }>(
      `insert into settings (key, value, updated_at) values ($1, '1', now()) returning key`,
      ['probe-again'],
      { text: 'select count(*)::int as n from settings where key = $1', params: ['probe-again'] },
    );
    assert.deepEqual([rows, after], [[{ key: 'probe-again' }], [{ n: 1 }]]);
  });

  it('keeps the work committed and returns it when the statement after it fails', async () => {
    const result = await store().db.transactOneThen<{ key: string }, { n: number }>(
      `insert into settings (key, value, updated_at) values ($1, '1', now()) returning key`,
      ['probe-main'],
      { text: 'select (1 / (count(*) - 1))::int as n from settings where key = $1', params: ['probe-main'] },
    );
    assert.deepEqual(result.rows, [{ key: 'probe-main' }]);
    assert.equal(result.after, undefined);
    assert.match(String((result.afterError as Error | undefined)?.message), /division by zero/);
    assert.deepEqual(await settingKeys(), ['probe-main']);
    // PostgreSQL: the connection's session is clean again (not inside a transaction)
    const again = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store().db.transactOneThen<{ key: string }, { n: number }>(`insert into settings (key, value, updated_at) values ($1, '1', now()) returning key`, [`probe-${i}`], {
          text: 'select count(*)::int as n from settings where key = $1',
          params: [`probe-${i}`],
        }),
      ),
    );
    assert.deepEqual(
      again.map((r) => r.after),
      again.map(() => [{ n: 1 }]),
    );
  });
});
