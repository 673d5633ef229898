// What an allocation pass's transaction no longer spends (issue #22, Qiscus
// paced 500/s, webhook → assign_agent p99): the routing lock, shared, goes
// with BEGIN rather than in a statement of its own (the `locks` option takes
// shared locks), and a pass that claimed every call it enqueued, to hand them
// to the running worker, wakes no worker with its commit (migration 0055):
// that wake-up only ran claims that found the calls leased. A pass whose claim
// leaves a call still wakes them (qiscus-hand-over.test.ts). The hand-over
// ends with the claim: a request inserted later in the pass's transaction
// wakes them as any other does. And it decides in four statements, the
// mirrors' locks and the rooms' in one.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LOCKS, OUTBOX_CHANNEL, type AdvisoryLock, type Db } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
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

  it('decides in four statements: mirrors and rooms locked, mirrors read, rooms assigned, calls claimed', async () => {
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
    // the mirrors' locks and the rooms' were two statements, two round trips while the pass held the routing lock
    assert.equal(deciding[0]!.length, 4, `the decision's statements:\n${deciding[0]!.map((s) => s.replace(/\s+/g, ' ').trim().slice(0, 60)).join('\n')}`);
    assert.ok(await h.until(() => fake.assigned.length === 3, 30_000), `${fake.assigned.length} of 3 assign_agent calls arrived`);
  });

  it('commits without waking the workers when it claimed every call it enqueued', async () => {
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
      assert.equal(notified, 1, "the pass's commit woke the workers, though it had claimed all its calls");
    } finally {
      await listening.close();
    }
    // handed over, so delivered all the same
    assert.ok(await h.until(() => fake.assigned.length === 3, 30_000), `${fake.assigned.length} of 3 assign_agent calls arrived`);
  });

  it('ends the hand-over with its claim: a request inserted later in its transaction wakes the workers', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(1);
    await h.webhook('s1');
    h.worker.start();
    // Whatever the pass's transaction does after its claim, this stands for it: one more request, due
    // tomorrow (so no worker sends it), inserted before the commit.
    const db = h.t.ctx.db;
    const after: { handed: string | null }[] = [];
    h.t.ctx.db = {
      ...db,
      transaction: (fn, options) =>
        db.transaction(async (tx) => {
          let enqueued = false;
          const result = await fn({ query: (text, params) => ((enqueued ||= text.includes('insert into outbound_requests')), tx.query(text, params)), exec: (text) => tx.exec(text) });
          if (enqueued) {
            const [setting] = await tx.query<{ handed: string | null }>(`select current_setting('switchboard.outbox_handed', true) as handed`);
            after.push(setting!);
            await tx.query(
              `insert into outbound_requests (producer, message_id, name, url, method, headers, body, verify_tls, max_attempts, next_attempt_at, created_at)
               values ('test', 'later-in-the-pass', 'later', 'http://127.0.0.1:9/later', 'POST', '{}', '\\x', true, 1, now() + interval '1 day', now())`,
            );
          }
          return result;
        }, options),
    } as Db;
    let notified = 0;
    const listening = await store().db.listen(OUTBOX_CHANNEL, { notified: () => (notified += 1) });
    try {
      assert.equal((await h.channel.allocator.pass()).assigned, 1);
      assert.deepEqual(after, [{ handed: 'off' }], 'the setting outlived the hand-over');
      assert.ok(await h.until(() => notified >= 1, 30_000), "the later insert's commit woke no worker");
    } finally {
      h.t.ctx.db = db;
      await listening.close();
    }
    assert.ok(await h.until(() => fake.assigned.length === 1, 30_000), 'the assign_agent call never arrived');
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
