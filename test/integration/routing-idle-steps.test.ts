// Issue #22 (P3): the steps of a close and of a sweep that have nothing to
// do are not run. A close that finds nothing queued asks no head (the head's
// query, three index walks in one plan, was a sixth of a close on PGlite);
// a sweep with no offer out and no decline to clear runs no offers' step,
// and with nothing queued no match; a match with every agent full sets up
// no queue query (Q1). Counted as PostgreSQL counts PL/pgSQL
// calls (track_functions) in the call's own transaction, beside what the
// call did, which must be what it did before.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import { openConversation } from '../../src/conversations/lifecycle.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import type { Queryable } from '../../src/store/db.js';
import { changeDepartmentRouting } from '../../src/routing/department-settings.js';
import { makeAgent } from '../helpers/fixtures.js';
import { eachTestOnClock, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('routing: idle steps of a close and a sweep are skipped', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClock(store, (fresh) => ({ clock, ctx } = fresh));

  const open = async (customer: string, department: string | null = null) => {
    clock.advance(1000);
    const { conversation } = await openConversation(ctx, { customer: { id: customer }, department });
    return conversation;
  };
  const state = async (id: string) => (await ctx.db.query<ConversationRow & { declined_at: Date | null }>('select * from conversations where id = $1', [id]))[0]!;

  /** `sql` in a transaction of its own, with its PL/pgSQL calls counted by function name. */
  const counted = async <Row>(sql: string, params: unknown[]) =>
    ctx.db.transaction(async (tx) => {
      await tx.exec(`set local track_functions = 'pl'`);
      // The view also holds counts not yet flushed from earlier transactions: the difference is this call's.
      const read = async () =>
        new Map((await tx.query<{ name: string; calls: number }>(`select funcname as name, sum(calls)::int as calls from pg_stat_xact_user_functions group by funcname`)).map((c) => [c.name, c.calls]));
      const before = await read();
      const rows = await tx.query<Row>(sql, params);
      const after = await read();
      const calls: Record<string, number | undefined> = {};
      for (const [name, n] of after) if (n > (before.get(name) ?? 0)) calls[name] = n - (before.get(name) ?? 0);
      return { rows, calls };
    });
  const close = (id: string) => {
    clock.advance(1000);
    return counted<{ id: string | null; state: string; given: unknown[] }>(
      `select (o.closed).id, (o.closed).state, o.logged as given
         from sb_close_conversation($1::uuid, 'resolved', $2::timestamptz, 'agent', null, null, 'system') o`,
      [id, clock.now()],
    );
  };
  const sweepStep = () => {
    clock.advance(1000);
    return counted<{ offers_expired: number; assigned: number }>(`select offers_expired, assigned from sb_sweep_step($1::timestamptz, 100)`, [clock.now()]);
  };

  it('a close with nothing queued asks no head, and frees the slot', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 2 });
    const a = await open('c1');
    await open('c2');
    assert.equal((await state(a.id)).agent_id, agent.id);
    const { rows, calls } = await close(a.id);
    assert.equal(rows[0]!.state, 'resolved');
    assert.deepEqual(
      (rows[0]!.given as { type: string }[]).map((e) => e.type),
      ['conversation.resolved'],
    );
    assert.equal(calls.sb_head_for_agent, undefined, 'the head was asked for with nothing queued');
    assert.equal(calls.sb_queue_ages, undefined, 'the aging probe ran with nothing queued');
    // not even called: a call with a SET clause, applied and undone
    assert.equal(calls.sb_take_head, undefined, 'sb_take_head was called with nothing queued');
    assert.equal(calls.sb_close_sla_breach, undefined, 'the SLA breach was asked for with no SLA due');
    const [row] = await ctx.db.query<{ load: number }>('select load from agents where id = $1', [agent.id]);
    assert.equal(row!.load, 1);
  });

  it('a close with something queued still asks the head and gives it the slot', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const a = await open('c1');
    const b = await open('c2');
    assert.equal((await state(b.id)).state, 'queued');
    const { calls } = await close(a.id);
    assert.ok((calls.sb_head_for_agent ?? 0) >= 1, 'the head was not asked for');
    const given = await state(b.id);
    assert.equal(given.state, 'assigned');
    assert.equal(given.agent_id, agent.id);
  });

  it("a close whose agent serves nothing queued asks the head (another department's queue)", async () => {
    const sales = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const a = await open('c1', 'sales');
    const other = await open('c2', 'billing');
    assert.equal((await state(other.id)).state, 'queued');
    const { calls } = await close(a.id);
    assert.ok((calls.sb_head_for_agent ?? 0) >= 1);
    assert.equal((await state(other.id)).state, 'queued');
    const [row] = await ctx.db.query<{ load: number }>('select load from agents where id = $1', [sales.id]);
    assert.equal(row!.load, 0);
  });

  it('a sweep with no offer out and nothing queued runs neither the offers step nor a match', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 1 });
    await open('c1');
    const { rows, calls } = await sweepStep();
    assert.deepEqual(rows[0], { offers_expired: 0, assigned: 0 });
    assert.equal(calls.sb_expire_offers, undefined, 'the offers step ran with no offer out');
    assert.equal(calls.sb_match_next, undefined, 'a match ran with nothing queued');
  });

  it('a sweep with an offer out runs the offers step, and expires it when it ran out', async () => {
    await changeDepartmentRouting(ctx, 'sales', { mode: 'offer', offer_timeout_s: 30 }, null);
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const a = await open('c1', 'sales');
    assert.equal((await state(a.id)).state, 'offered');
    const early = await sweepStep();
    assert.equal(early.calls.sb_expire_offers, 1);
    assert.equal(early.rows[0]!.offers_expired, 0);
    clock.advance(60_000);
    const late = await sweepStep();
    assert.equal(late.rows[0]!.offers_expired, 1);
    const back = await state(a.id);
    assert.equal(back.state, 'queued');
    assert.deepEqual(back.declined_by, [agent.id]);
  });

  it('a drain with every agent full asks nothing of the queue, and matches once one has room', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const a = await open('c1');
    const b = await open('c2');
    assert.equal((await state(b.id)).state, 'queued');
    const match = () => {
      clock.advance(1000);
      return counted<{ id: string }>(`select id from sb_match_next($1::timestamptz)`, [clock.now()]);
    };
    const full = await match();
    assert.deepEqual(full.rows, []);
    // the probe of the agents alone: neither the queue's flags nor its query
    assert.equal(full.calls.sb_queue_ages, undefined, 'the aging probe ran with every agent full');
    assert.equal(full.calls.sb_any_manual, undefined, 'the manual probe ran with every agent full');
    // room again (as a change of capacity gives it): the same call matches
    await ctx.db.query('update agents set capacity = 2 where id = $1', [agent.id]);
    const roomy = await match();
    assert.deepEqual(roomy.rows.map((r) => r.id), [b.id]);
    assert.equal((await state(b.id)).agent_id, agent.id);
    assert.equal((await state(a.id)).agent_id, agent.id);
  });

  it('a sweep with a decline to clear and nothing offered runs the offers step, which clears it', async () => {
    await changeDepartmentRouting(ctx, 'sales', { mode: 'offer', offer_timeout_s: 30 }, null);
    await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const a = await open('c1', 'sales');
    clock.advance(60_000);
    await sweepStep(); // expired: queued again with the agent in declined_by, nobody else to offer it to
    assert.equal((await state(a.id)).state, 'queued');
    assert.notEqual((await state(a.id)).declined_at, null);
    clock.advance(60_000);
    const { calls } = await sweepStep();
    assert.equal(calls.sb_expire_offers, 1);
    const cleared = await state(a.id);
    assert.deepEqual([cleared.declined_by, cleared.declined_at, cleared.state], [[], null, 'queued'], JSON.stringify(cleared));
  });

  /** `sql` in a transaction of its own, with whether it left the routing lock (7301001) held, and how. */
  const locking = <Row>(sql: string, params: unknown[]) =>
    ctx.db.transaction(async (tx) => {
      const rows = await tx.query<Row>(sql, params);
      // a transaction-level advisory lock is held until the transaction ends
      const locks = await tx.query<{ mode: string }>(
        `select mode from pg_locks where locktype = 'advisory' and classid = 0 and objid = 7301001 and pid = pg_backend_pid()`,
      );
      return { rows, locks: locks.map((l) => l.mode) };
    });
  const lockingSweep = () => {
    clock.advance(1000);
    return locking<{ agents_expired: number; requeued: number; offers_expired: number; assigned: number; sla_breached: number }>(
      `select agents_expired, requeued, offers_expired, assigned, sla_breached from sb_sweep_step($1::timestamptz, 100)`,
      [clock.now()],
    );
  };
  const nothing = { agents_expired: 0, requeued: 0, offers_expired: 0, assigned: 0, sla_breached: 0 };

  it('a sweep with nothing to do takes no routing lock: nothing queued, or a queue with every agent full', async () => {
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    const empty = await lockingSweep();
    assert.deepEqual([empty.rows[0], empty.locks], [nothing, []]);
    const a = await open('c1');
    const b = await open('c2');
    assert.equal((await state(b.id)).state, 'queued');
    const full = await lockingSweep();
    assert.deepEqual([full.rows[0], full.locks], [nothing, []]);
    // the routing lock is what a sweep with work takes: room again, and the
    // sweep (the safety net) gives the head its slot under it
    await ctx.db.query('update agents set capacity = 2 where id = $1', [agent.id]);
    const roomy = await lockingSweep();
    assert.deepEqual([roomy.rows[0]!.assigned, roomy.locks], [1, ['ExclusiveLock']]);
    assert.deepEqual([(await state(b.id)).agent_id, (await state(a.id)).agent_id], [agent.id, agent.id]);
  });

  const setting = (key: string, value: unknown) =>
    ctx.db.query(
      `insert into settings (key, value, updated_at) values ($1, $2::jsonb, now()) on conflict (key) do update set value = excluded.value`,
      [key, JSON.stringify(value)],
    );

  it('a sweep takes the routing lock for each kind of work it has: a keep-alive run out, a grace passed, an SLA due, an ended sticky wait', async () => {
    await setting('attendant_keep_alive_ms', 60_000);
    const agent = await makeAgent(ctx, { status: 'online', capacity: 1 });
    await ctx.db.query('update agents set last_seen_at = $2 where id = $1', [agent.id, clock.now()]);
    await open('c1');
    assert.deepEqual((await lockingSweep()).locks, []);
    // the keep-alive runs out: set offline under the lock
    clock.advance(120_000);
    const expired = await lockingSweep();
    assert.deepEqual([expired.rows[0]!.agents_expired, expired.locks], [1, ['ExclusiveLock']]);
    // offline with a conversation, policy requeue: nothing until the grace has passed, then the requeue
    await setting('offline_policy', 'requeue');
    await setting('agent_offline_grace_ms', 300_000);
    assert.deepEqual((await lockingSweep()).locks, []);
    clock.advance(300_000);
    const requeued = await lockingSweep();
    assert.deepEqual([requeued.rows[0]!.requeued, requeued.locks], [1, ['ExclusiveLock']]);
    assert.deepEqual((await lockingSweep()).locks, []);
    // a first response due and not given
    await ctx.db.query('update conversations set sla_due_at = $1 where customer_id = $2', [new Date(clock.now().getTime() + 5_000), 'c1']);
    assert.deepEqual((await lockingSweep()).locks, []);
    clock.advance(10_000);
    const breached = await lockingSweep();
    assert.deepEqual([breached.rows[0]!.sla_breached, breached.locks], [1, ['ExclusiveLock']]);
    assert.deepEqual((await lockingSweep()).locks, []);
    // a sticky wait that ends: recorded as ended under the lock
    await ctx.db.query('update conversations set sticky_until = $1 where customer_id = $2', [new Date(clock.now().getTime() + 5_000), 'c1']);
    assert.deepEqual((await lockingSweep()).locks, []);
    clock.advance(10_000);
    assert.deepEqual((await lockingSweep()).locks, ['ExclusiveLock']);
    assert.equal((await ctx.db.query<{ sticky_until: Date | null }>('select sticky_until from conversations where customer_id = $1', ['c1']))[0]!.sticky_until, null);
    assert.deepEqual((await lockingSweep()).locks, []);
  });

  it("an idle sweep's probes read no online agent one by one, with a queue at capacity", async () => {
    // 200 online agents seen just now, all full, straight into the table,
    // never analysed (a young deployment): none has run out of keep-alive,
    // nobody has room for the one queued
    await ctx.db.query(
      `insert into agents (name, email, password_hash, role, status, capacity, load, last_seen_at, created_at, updated_at)
       select 'seen ' || i, 'seen' || i || '@example.test', 'no-login', 'agent', 'online', 1, 1, $1, $1, $1
         from generate_series(1, 200) as i`,
      [clock.now()],
    );
    const queued = await open('c-waiting');
    assert.equal((await state(queued.id)).state, 'queued');
    const agentsRead = async (tx: Queryable) =>
      (
        await tx.query<{ n: number }>(
          `select (select coalesce(sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), 0) from pg_index i where i.indrelid = 'agents'::regclass)
                + (select coalesce(seq_tup_read, 0) from pg_stat_xact_user_tables where relid = 'agents'::regclass) as n`,
        )
      )[0]!.n;
    const read = await ctx.db.transaction(async (tx) => {
      const sweep = () => {
        clock.advance(1000);
        return tx.query<{ agents_expired: number }>('select agents_expired from sb_sweep_step($1, 100)', [clock.now()]);
      };
      // the first plans the session's statements (planning reads indexes too)
      await sweep();
      const before = Number(await agentsRead(tx));
      assert.equal((await sweep())[0]!.agents_expired, 0);
      return Number(await agentsRead(tx)) - before;
    });
    assert.ok(read <= 10, `an idle sweep read ${read} rows or index entries of agents`);
  });
});
