// Two allocation passes (of two processes) that meet agents new to
// Switchboard both insert their mirrors (allocate.ts, MIRRORS). Found by
// review (2026-11-26): the inserts went in the order of the offered lists,
// so two lists naming the same new agents in opposite orders could deadlock;
// and the conflict target named one unique index (the Qiscus id), so a pass
// that met the other's uncommitted row first at the e-mail index raised a
// unique violation instead of skipping it. This test pins the order (it
// failed with "deadlock detected" before); the e-mail race needs two inserts
// past their arbiter check at the same instant, which a test cannot place.
// PostgreSQL: two connections, one insert held open while the other waits.
// PGlite has one connection: a pass meeting mirrors another pass made skips them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { mirrorsOf } from '../../src/channels/qiscus/allocate.js';
import type { AvailableAgent } from '../../src/channels/qiscus/client.js';
import type { Queryable } from '../../src/store/db.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

const agent = (id: string): AvailableAgent => ({ id, name: `Agent ${id}`, email: `${id}@fake.test`, current_customer_count: 0, is_available: true, force_offline: false });
const on = (client: pg.Client): Queryable => ({
  query: async <Row>(text: string, params?: readonly unknown[]) => (await client.query(text, params as unknown[])).rows as Row[],
  exec: async (text: string) => void (await client.query(text)),
});
const mirrorCount = async (db: Queryable) => (await db.query<{ n: number }>(`select count(*)::int as n from agents where source = 'qiscus'`))[0]!.n;

describe('two passes insert the same new mirrors at once [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  const { store, holder } = eachTestWithLockHolder(async () => {});

  it('lists in opposite orders: no deadlock, no unique violation, one mirror each', async () => {
    const other = new (await import('pg')).default.Client({ connectionString: store().url });
    await other.connect();
    try {
      const now = new Date();
      // pass A has inserted agent 10's mirror, uncommitted
      await holder().query('begin');
      assert.equal((await mirrorsOf(on(holder()), [agent('10')], [], now)).size, 1);
      // pass B offers 20 then 10: it waits on A's row for 10 …
      await other.query('begin');
      const b = mirrorsOf(on(other), [agent('20'), agent('10')], [], now);
      await waitingOnLock(store().db, 'insert into agents');
      // … and A goes on to 20. Inserting 20 first, B held it, and A now waited on B: a deadlock.
      const a = await mirrorsOf(on(holder()), [agent('20')], [], now);
      assert.deepEqual([...a.keys()], ['20']);
      await holder().query('commit');
      // B finds both rows A committed, whichever index it met them at, and skips them
      const mine = await b;
      await other.query('commit');
      assert.deepEqual([...mine.keys()], [], 'B created nothing: A had both');
      assert.equal(await mirrorCount(store().db), 2);
    } finally {
      await other.end();
    }
  });
});

describeEachStore('a pass meets mirrors another pass made', (store) => {
  it('skips them, and creates only those still missing', async () => {
    const now = new Date();
    await store().db.transaction((tx) => mirrorsOf(tx, [agent('10')], [], now));
    const made = await store().db.transaction((tx) => mirrorsOf(tx, [agent('20'), agent('10')], [], now));
    assert.deepEqual([...made.keys()], ['20']);
    assert.equal(await mirrorCount(store().db), 2);
  });
});
