// What an allocation pass's transaction no longer spends (issue #22, Qiscus
// paced 500/s, webhook → assign_agent p99): the routing lock, shared, goes
// with BEGIN rather than in a statement of its own (the `locks` option takes
// shared locks), and a pass that inserted every call it enqueued already
// leased, to hand them to the running worker, wakes no worker with its commit
// (migration 0063): that wake-up only ran claims that found the calls leased.
// A pass that leaves a call unleased still wakes them (qiscus-hand-over.test.ts);
// so does any statement that inserts a request due at once, in the pass's
// transaction or not. And it decides in three statements, the mirrors' locks
// and the rooms' in one, the calls leased as they are inserted; in two once
// every offered agent has a mirror (their loads come with their locks).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LOCKS, OUTBOX_CHANNEL, type AdvisoryLock, type Db } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { afterEachStatement } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus allocation pass: its lock with BEGIN, no wake-up for calls it handed over', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  it('takes the routing lock shared with BEGIN, in no statement of its own', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['l1', 'l2']) await h.webhook(room);
    // what the pass sends, from here (the channel reads ctx.db at each call)
    const db = h.t.ctx.db;
    const transactions: { locks: readonly AdvisoryLock[]; statements: string[] }[] = [];
    h.t.ctx.db = {
      ...db,
      transaction: (fn, options) => {
        const seen = { locks: options?.locks ?? [], statements: [] as string[] };
        transactions.push(seen);
        return db.transaction((tx) => fn({ query: (text, params) => (seen.statements.push(text), tx.query(text, params)), exec: (text) => tx.exec(text) }), options);
      },
    } as Db;
    assert.equal((await h.channel.allocator.pass()).assigned, 2);
    const deciding = transactions.filter((t) => t.statements.some((s) => s.includes('insert into outbound_requests')));
    assert.equal(deciding.length, 1, 'one transaction decided the pass');
    assert.deepEqual(deciding[0]!.locks, [{ shared: LOCKS.routing }]);
    assert.deepEqual(deciding[0]!.statements.filter((s) => /advisory/i.test(s)), [], 'the lock took a statement of its own');
  });

  it('decides in three statements: mirrors and rooms locked, mirrors read, rooms assigned with their calls leased', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['d1', 'd2', 'd3']) await h.webhook(room);
    h.worker.start();
    const db = h.t.ctx.db;
    const transactions: string[][] = [];
    h.t.ctx.db = {
      ...db,
      transaction: (fn, options) => {
        const statements: string[] = [];
        transactions.push(statements);
        return db.transaction((tx) => fn({ query: (text, params) => (statements.push(text), tx.query(text, params)), exec: (text) => tx.exec(text) }), options);
      },
    } as Db;
    try {
      assert.equal((await h.channel.allocator.pass()).assigned, 3);
    } finally {
      h.t.ctx.db = db;
    }
    const deciding = transactions.filter((t) => t.some((s) => s.includes('insert into outbound_requests')));
    assert.equal(deciding.length, 1, 'one transaction decided the pass');
    // the mirrors' locks and the rooms' were two statements, and the calls' claim a fourth: round trips while the pass held the routing lock
    assert.equal(deciding[0]!.length, 3, `the decision's statements:\n${deciding[0]!.map((s) => s.replace(/\s+/g, ' ').trim().slice(0, 60)).join('\n')}`);
    assert.ok(await h.until(() => fake.assigned.length === 3, 30_000), `${fake.assigned.length} of 3 assign_agent calls arrived`);
  });

  it('decides in two statements once the offered agents have their mirrors: their loads come with their locks', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    await h.webhook('m0');
    // the first pass creates the mirrors (MIRRORS, a third statement)
    assert.equal((await h.channel.allocator.pass()).assigned, 1);
    for (const room of ['m1', 'm2', 'm3']) await h.webhook(room);
    const db = h.t.ctx.db;
    const transactions: string[][] = [];
    h.t.ctx.db = {
      ...db,
      transaction: (fn, options) => {
        const statements: string[] = [];
        transactions.push(statements);
        return db.transaction((tx) => fn({ query: (text, params) => (statements.push(text), tx.query(text, params)), exec: (text) => tx.exec(text) }), options);
      },
    } as Db;
    try {
      assert.equal((await h.channel.allocator.pass()).assigned, 3);
    } finally {
      h.t.ctx.db = db;
    }
    const deciding = transactions.filter((t) => t.some((s) => s.includes('insert into outbound_requests')));
    assert.equal(deciding.length, 1, 'one transaction decided the pass');
    assert.equal(deciding[0]!.length, 2, `the decision's statements:\n${deciding[0]!.map((s) => s.replace(/\s+/g, ' ').trim().slice(0, 60)).join('\n')}`);
    // the loads read with the locks were the loads: one room each, then the fourth room to the less recent
    const loads = await h.loads();
    assert.deepEqual([...loads.values()].map((l) => l.load).sort(), [2, 2]);
    for (const [, { load, open }] of loads) assert.equal(load, open);
  });

  it('commits without waking the workers when it leased every call it enqueued', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['q1', 'q2', 'q3']) await h.webhook(room);
    h.worker.start();
    let notified = 0;
    const listening = await store().db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    try {
      assert.equal((await h.channel.allocator.pass()).assigned, 3);
      // A NOTIFY of our own, committed after the pass: notifications arrive in commit order, so once it is
      // heard, the pass's would have been.
      await store().db.query(`select pg_notify($1, '')`, [OUTBOX_CHANNEL]);
      assert.ok(await h.until(() => notified >= 1, 30_000), 'the control NOTIFY never arrived');
      assert.equal(notified, 1, "the pass's commit woke the workers, though it had leased all its calls");
    } finally {
      await listening.close();
    }
    // handed over, so delivered all the same
    assert.ok(await h.until(() => fake.assigned.length === 3, 30_000), `${fake.assigned.length} of 3 assign_agent calls arrived`);
  });

  it('leases the calls in the statement that inserts them: the worker sends them, and no claim follows', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(2);
    for (const room of ['e1', 'e2']) await h.webhook(room);
    h.worker.start();
    const db = h.t.ctx.db;
    const leased: boolean[] = [];
    h.t.ctx.db = afterEachStatement(db, async (text, tx) => {
      // as the inserting statement left them, before any other statement of the pass
      if (text.includes('insert into outbound_requests')) {
        const rows = await tx.query<{ leased: boolean }>(`select next_attempt_at > created_at as leased from outbound_requests where name = 'assign_agent' order by id`);
        leased.push(...rows.map((r) => r.leased));
      }
    });
    try {
      assert.equal((await h.channel.allocator.pass()).assigned, 2);
    } finally {
      h.t.ctx.db = db;
    }
    assert.deepEqual(leased, [true, true], 'the pass inserted its calls due, for a claim');
    assert.ok(await h.until(() => fake.assigned.length === 2, 30_000), `${fake.assigned.length} of 2 assign_agent calls arrived`);
  });
});

// Outside the fake-Qiscus suite: no fake or harness to set up and close.
describeEachStore('Db.transaction locks: { shared }', (store) => {
  it('takes a `locks` entry { shared } shared on PostgreSQL: another session can share it, not take it exclusive', async () => {
    const db = store().db;
    const key = 7_301_999n;
    const held = await db.transaction(
      async (tx) => {
        // PGlite, one connection behind a mutex, takes no advisory lock: none is held there
        const [mode] = await tx.query<{ mode: string }>(
          `select mode from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and objid = $1`,
          [Number(key)],
        );
        if (db.kind !== 'postgres') return mode?.mode ?? 'none';
        // another connection of the pool (this one is inside the transaction)
        const [tries] = await db.query<{ shared: boolean; exclusive: boolean }>(
          `select pg_try_advisory_xact_lock_shared($1) as shared, pg_try_advisory_xact_lock($1) as exclusive`,
          [key.toString()],
        );
        assert.deepEqual(tries, { shared: true, exclusive: false });
        return mode?.mode ?? 'none';
      },
      { locks: [{ shared: key }] },
    );
    assert.equal(held, db.kind === 'postgres' ? 'ShareLock' : 'none');
  });
});

// The trigger's rule (migration 0063), whoever inserts: a statement wakes the workers when it inserts a
// request due at once, and not when every row it inserts is leased (due later than its insert).
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

describeEachStore('outbound_requests NOTIFY: for requests nobody leased', (store) => {
  it('a statement of leased rows sends none; one with a row due at once sends one, in the same transaction too', async () => {
    const db = store().db;
    let notified = 0;
    const listening = await db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    const insert = (tx: Pick<Db, 'query'>, rows: { key: string; leased: boolean }[]) =>
      tx.query(
        `insert into outbound_requests (producer, message_id, name, url, method, headers, body, verify_tls, max_attempts, next_attempt_at, created_at)
         select 'test', r.key, 'wake-rule', 'http://127.0.0.1:9/x', 'POST', '{}', '\\x', true, 1,
                case when r.leased then now() + interval '1 minute' else now() end, now()
           from unnest($1::text[], $2::boolean[]) as r(key, leased)`,
        [rows.map((r) => r.key), rows.map((r) => r.leased)],
      );
    // Notifications arrive in commit order, so once a control one is heard every earlier one has been:
    // counts what arrived since before `work`, waiting for `expected` and the control (a moment
    // longer, for any past those). Counted from before the work: its notification may be heard
    // before the work's own answer is read.
    const heard = async (work: () => Promise<unknown>, expected: number): Promise<number> => {
      const before = notified;
      await work();
      await db.query(`select pg_notify($1, '')`, [OUTBOX_CHANNEL]);
      assert.ok(await waitFor(() => notified >= before + expected + 1, 10_000), `${notified - before} of ${expected + 1} notifications arrived`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return notified - before - 1;
    };
    try {
      const leased = () => db.transaction((tx) => insert(tx, [{ key: 'l1', leased: true }, { key: 'l2', leased: true }]));
      assert.equal(await heard(leased, 0), 0, 'leased rows woke the workers');
      const mixed = () => db.transaction((tx) => insert(tx, [{ key: 'm1', leased: true }, { key: 'm2', leased: false }]));
      assert.equal(await heard(mixed, 1), 1, 'a row due at once, beside a leased one, woke no worker');
      const dueAfterLeased = () =>
        db.transaction(async (tx) => {
          await insert(tx, [{ key: 'a1', leased: true }]);
          await insert(tx, [{ key: 'a2', leased: false }]);
        });
      assert.equal(await heard(dueAfterLeased, 1), 1, 'a row due at once after a leased insert in its transaction woke no worker');
    } finally {
      await listening.close();
      await db.query(`delete from outbound_requests where name = 'wake-rule'`);
    }
  });
});
