// Issue #22 (resolve p99): a PostgreSQL connection's first close compiled
// sb_close_conversation and planned its statements, ten times a warm
// close's time, and a bench's p99 was made of such resolves. The server
// warms every pool connection before it serves (src/store/warm-up.ts):
// the warm-up changes nothing in the store, and afterwards each of the
// pool's connections holds the close's compiled functions.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import { closeConversation, openConversation } from '../../src/conversations/lifecycle.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { openPostgres } from '../../src/store/postgres.js';
import { changeDepartmentRouting } from '../../src/routing/department-settings.js';
import { WARM_UP, warmConnections } from '../../src/store/warm-up.js';
import { eachTestApp } from '../helpers/app.js';
import { makeAgent } from '../helpers/fixtures.js';
import { heldOpen } from '../helpers/held-open.js';
import { describeEachStore } from '../helpers/stores.js';

/** The hot functions a connection has compiled (PL/pgSQL's per-function memory context names it), by name. */
const COMPILED = `select distinct regexp_replace(ident, '\\(.*', '') as ident from pg_backend_memory_contexts
  where name = 'PL/pgSQL function' and ident ~ '^(sb_close_conversation|sb_take_head|sb_head_for_agent|sb_assign|sb_log_events)\\('`;

describeEachStore('store: connections warmed for the resolve', (store) => {
  const app = eachTestApp(store);

  it('the warm-up changes nothing, and the next close gives the freed slot as before', async () => {
    const t = app();
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1 });
    const held = await openConversation(t.ctx, { customer: { id: 'held' } });
    const waiting = await openConversation(t.ctx, { customer: { id: 'waiting' } });
    const snapshot = async () => ({
      events: await t.ctx.db.query('select id, type from events order by id'),
      conversations: await t.ctx.db.query('select id, state, agent_id, updated_at from conversations order by id'),
      agents: await t.ctx.db.query('select id, load, last_assigned_at, updated_at from agents order by id'),
    });
    const before = await snapshot();

    await t.ctx.db.exec(WARM_UP);

    assert.deepEqual(await snapshot(), before);
    // no lock or transaction left behind: the close runs, and hands over
    await closeConversation(t.ctx, held.conversation.id, { reason: 'agent' }, SYSTEM);
    const [next] = await t.ctx.db.query<{ state: string; agent_id: string }>('select state, agent_id from conversations where id = $1', [waiting.conversation.id]);
    assert.deepEqual(next, { state: 'assigned', agent_id: agent.id });
  });

  // Every close while a queued conversation ages goes to the exclusive
  // path. The warm-up's first close used to leave the routing lock held
  // shared by the warm-up's transaction, so its second close asked for it
  // exclusive while holding it shared: two connections warming at once
  // (the server warms its whole pool at once) waited on each other until
  // PostgreSQL aborted one ("deadlock detected"), and every routing change
  // waited behind them meanwhile. To meet for certain, each warm-up pauses
  // after its first close (in its next call, sb_queue_ages, on a lock the
  // test holds) until both are there.
  it('warm-ups beside a queue that ages change nothing, and two at once do not deadlock', async () => {
    const t = app();
    const db = t.ctx.db;
    await changeDepartmentRouting(t.ctx, 'aged', { aging_per_min: 1 }, null);
    const agent = await makeAgent(t.ctx, { status: 'online', capacity: 1, departments: ['aged'] });
    const held = await openConversation(t.ctx, { customer: { id: 'held' }, department: 'aged' });
    const waiting = await openConversation(t.ctx, { customer: { id: 'waiting' }, department: 'aged' });
    assert.deepEqual([held.conversation.state, waiting.conversation.state], ['assigned', 'queued']);
    const snapshot = async () => ({
      events: await db.query('select id, type from events order by id'),
      conversations: await db.query('select id, state, agent_id, updated_at from conversations order by id'),
      agents: await db.query('select id, load, capacity, last_assigned_at, updated_at from agents order by id'),
    });
    const before = await snapshot();

    if (store().kind === 'pglite') {
      // one connection: nothing to meet, but the warm-up's closes go the exclusive way and are undone
      await db.exec(WARM_UP);
    } else {
      const other = openPostgres({ connectionString: store().url!, max: 2 });
      await db.query('alter function sb_queue_ages() rename to sb_queue_ages_unpaused');
      await db.query(`create function sb_queue_ages() returns boolean language plpgsql as $$
        begin
          if current_setting('sb_test.pause_warm_up', true) = 'on' then
            perform pg_advisory_xact_lock_shared(7309998);
          end if;
          return sb_queue_ages_unpaused();
        end $$`);
      try {
        const pause = heldOpen(db, (tx) => tx.query('select pg_advisory_xact_lock(7309998)'));
        await pause.ran;
        const warmUp = () =>
          other.transaction(async (tx) => {
            await tx.query(`select set_config('sb_test.pause_warm_up', 'on', true)`);
            await tx.query(WARM_UP);
          });
        const warmUps = [warmUp(), warmUp()];
        // both past their first close, waiting on the pause
        for (let waiters = 0; waiters < 2; ) {
          [{ waiters }] = await db.query<{ waiters: number }>(
            `select count(*)::int as waiters from pg_locks where locktype = 'advisory' and objid = 7309998 and not granted`,
          ) as [{ waiters: number }];
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        pause.release();
        await pause.done;
        const failures = (await Promise.allSettled(warmUps)).flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
        assert.deepEqual(failures, []);
      } finally {
        await db.query('drop function if exists sb_queue_ages()');
        await db.query('alter function sb_queue_ages_unpaused() rename to sb_queue_ages');
        await other.close();
      }
    }

    assert.deepEqual(await snapshot(), before);
    // nothing held: the close runs, and gives the slot to the one waiting
    await closeConversation(t.ctx, held.conversation.id, { reason: 'agent' }, SYSTEM);
    const [next] = await db.query<{ state: string; agent_id: string }>('select state, agent_id from conversations where id = $1', [waiting.conversation.id]);
    assert.deepEqual(next, { state: 'assigned', agent_id: agent.id });
  });

  it('every connection of a PostgreSQL pool has the close compiled before it serves', async () => {
    const t = app();
    if (store().kind === 'pglite') {
      // one connection, which compiles on its first close: nothing to open ahead
      assert.equal(await warmConnections(t.ctx.db), 0);
      return;
    }
    const db = openPostgres({ connectionString: store().url!, max: 3 });
    try {
      assert.equal(await warmConnections(db), 3);
      // the pool's three connections, each checked out once
      const clients = await Promise.all([1, 2, 3].map(() => db.pool.connect()));
      try {
        for (const client of clients) {
          const compiled = (await client.query<{ ident: string }>(COMPILED)).rows.map((r) => r.ident).sort();
          // sb_take_head: the warm-up's own close reached the hand-over
          assert.deepEqual(compiled, ['sb_assign', 'sb_close_conversation', 'sb_head_for_agent', 'sb_log_events', 'sb_take_head']);
        }
      } finally {
        for (const client of clients) client.release();
      }
      // A connection made later (one lost and replaced) warms itself before its first use.
      const extra = openPostgres({ connectionString: store().url!, max: 1 });
      try {
        await warmConnections(extra);
        const [first] = await extra.pool.query<{ n: number }>(`select count(*)::int as n from (${COMPILED}) c`).then((r) => r.rows);
        assert.equal(first!.n, 5);
        const client = await extra.pool.connect();
        client.release(true); // discarded: the pool makes a new one
        const [second] = await extra.pool.query<{ n: number }>(`select count(*)::int as n from (${COMPILED}) c`).then((r) => r.rows);
        assert.equal(second!.n, 5);
      } finally {
        await extra.close();
      }
    } finally {
      await db.close();
    }
  });

  it('the server warms its pool before it serves', async () => {
    if (store().kind === 'pglite') return;
    const db = openPostgres({ connectionString: store().url!, max: 2 });
    const server = await startServer(loadConfig({ PORT: '0', LOG_LEVEL: 'silent', ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password' }), { db, keepDb: true });
    try {
      const clients = await Promise.all([1, 2].map(() => db.pool.connect()));
      try {
        for (const client of clients) assert.equal((await client.query(COMPILED)).rows.length, 5);
      } finally {
        for (const client of clients) client.release();
      }
    } finally {
      await server.close();
      await db.close();
    }
  });
});
