// What a new conversation costs in index entries and triggers, and the reads
// that still need the indexes it no longer writes (migration 0054, issue #22:
// create → assigned is CPU-bound, and every index entry and trigger check an
// open makes is part of it).
//
// An index's entries for a row are the row's if the index has no predicate
// or its predicate holds for the row: the predicates are read from the
// catalogue and evaluated against the row just opened, so the list is
// PostgreSQL's own. The plans are read from a populated, analysed table.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SYSTEM } from '../../src/agents/model.js';
import type { Ctx } from '../../src/context.js';
import { listConversations } from '../../src/conversations/queries.js';
import { SEARCH_ALL } from '../../src/search/sql.js';
import { DASHBOARD_SQL } from '../../src/stats/dashboard.js';
import type { Queryable } from '../../src/store/db.js';
import { makeAgent } from '../helpers/fixtures.js';
import { eachTestOnClock, type FakeClock } from '../helpers/routing-app.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('schema: an assigned open writes fewer index entries, and the reads keep their indexes', (store) => {
  let clock: FakeClock;
  let ctx: Ctx;
  eachTestOnClock(store, (fresh) => ({ clock, ctx } = fresh));

  const open = async (customer: Record<string, unknown>) =>
    (await ctx.db.query<{ id: string; state: string }>(
      `select (o.opened).id, (o.opened).state from sb_open_conversation('api', null, $1, $2, null, 0, $3, false, null) o`,
      [customer.id, customer, clock.now()],
    ))[0]!;

  /** The indexes on conversations holding an entry for row `id`: those without a predicate, and those whose predicate the row meets. */
  const indexesHolding = async (id: string) => {
    const indexes = await ctx.db.query<{ name: string; predicate: string | null }>(
      `select i.indexrelid::regclass::text as name, pg_get_expr(i.indpred, i.indrelid) as predicate
         from pg_index i where i.indrelid = 'conversations'::regclass order by 1`,
    );
    const holding: string[] = [];
    for (const index of indexes) {
      const [row] = await ctx.db.query<{ held: boolean }>(
        `select coalesce((select (${index.predicate ?? 'true'}) from conversations where id = $1), false) as held`,
        [id],
      );
      if (row!.held) holding.push(index.name);
    }
    return holding;
  };

  it('an assigned open without an email is in neither the state index nor the email index', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 5 });
    const plain = await open({ id: 'c-plain', name: 'Plain' });
    assert.equal(plain.state, 'assigned');
    const held = await indexesHolding(plain.id);
    assert.deepEqual(held.filter((name) => /state|email/.test(name)), [], held.join(', '));
    // what is left (was 9): the key, seq, the agent's two, the customer's, and the two GIN (labels, the customer's words)
    assert.equal(held.length, 7, held.join(', '));

    // a customer with an email is still found by it
    const mailed = await open({ id: 'c-mail', name: 'Mailed', email: 'Mailed@Example.test' });
    assert.ok((await indexesHolding(mailed.id)).some((name) => /email/.test(name)));
  });

  it("the agent's update at an assignment passes the auth trigger over on its column list", async () => {
    // every update trigger on agents that PostgreSQL would consider for an update setting load, last_assigned_at, updated_at
    const considered = await ctx.db.query<{ name: string }>(
      `select t.tgname as name from pg_trigger t
        where t.tgrelid = 'agents'::regclass and not t.tgisinternal and (t.tgtype & 16) <> 0
          and (cardinality(t.tgattr::int2[]) = 0
               or exists (select 1 from pg_attribute a
                           where a.attrelid = t.tgrelid and a.attnum = any (t.tgattr::int2[])
                             and a.attname in ('load', 'last_assigned_at', 'updated_at')))`,
    );
    assert.deepEqual(considered, []);
  });

  /** Index entries read on `table` (agents unless told) by this transaction so far, by index. */
  const readSoFar = async (tx: Queryable, table = 'agents') =>
    new Map(
      (
        await tx.query<{ name: string; n: number }>(
          `select i.indexrelid::regclass::text as name, pg_stat_get_xact_tuples_returned(i.indexrelid)::int as n
             from pg_index i where i.indrelid = $1::regclass`,
          [table],
        )
      ).map((r) => [r.name, r.n]),
    );
  /** What `step` read of the indexes of `table` (agents unless told), by index (the entries each read). */
  const readBy = async (tx: Queryable, step: () => Promise<void>, table = 'agents') => {
    const before = await readSoFar(tx, table);
    await step();
    const after = await readSoFar(tx, table);
    return [...after].map(([name, n]) => ({ name, n: n - (before.get(name) ?? 0) })).filter((r) => r.n > 0);
  };
  /**
   * 200 online agents straight into the table, never analysed: a young
   * deployment, or the bench's server. Last seen long ago, so an agent made
   * after them comes after them in agents_presence (status, last_seen_at).
   */
  const seedOnlineAgents = (prefix: string, load: number, capacity: number | null = 3, skills: Record<string, number> = {}) =>
    ctx.db.query(
      `insert into agents (name, email, password_hash, role, status, capacity, load, skills, last_seen_at, created_at, updated_at)
       select '${prefix} ' || i, '${prefix}' || i || '@example.test', 'no-login', 'agent', 'online', ${capacity ?? 'null'}, ${load},
              '${JSON.stringify(skills)}'::jsonb,
              timestamptz '2000-01-01', now(), now()
         from generate_series(1, 200) as i`,
    );

  it("the claim reads its agent again by the key, not every online agent", async () => {
    await seedOnlineAgents('claimed', 0);
    const openIn = async (tx: Queryable, customer: string) =>
      (await tx.query<{ state: string }>(
        `select (o.opened).state from sb_open_conversation('api', null, $1, $2, null, 0, $3, false, null) o`,
        [customer, { id: customer }, clock.now()],
      ))[0]!.state;
    const { state, read } = await ctx.db.transaction(async (tx) => {
      // the first plans the session's statements (planning reads indexes too)
      assert.equal(await openIn(tx, 'c-first'), 'assigned');
      const before = await readSoFar(tx);
      const state = await openIn(tx, 'c-claimed');
      const after = await readSoFar(tx);
      return { state, read: [...after].map(([name, n]) => ({ name, n: n - (before.get(name) ?? 0) })).filter((r) => r.n > 0) };
    });
    assert.equal(state, 'assigned');
    // the pick's walk stops at its first agent (one entry each time, plus the
    // first's, now dead); the claim's second look is one key probe
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 10, `an assigned open read ${total} index entries of agents: ${JSON.stringify(read)}`);
  });

  it("a close's give reads no queued conversation of other departments (the aging probe, the head's lock)", async () => {
    const me = await makeAgent(ctx, { status: 'online', capacity: 2, departments: ['sales'] });
    const openIn = async (department: string, customer: string) => {
      const [row] = await ctx.db.query<{ id: string; state: string }>(
        `select (o.opened).id, (o.opened).state from sb_open_conversation('api', null, $1, $2, $3, 0, $4, false, null) o`,
        [customer, { id: customer }, department, clock.now()],
      );
      return row!;
    };
    const mine = [await openIn('sales', 'c-mine-1'), await openIn('sales', 'c-mine-2')];
    assert.deepEqual(mine.map((c) => c.state), ['assigned', 'assigned']);
    // 200 waiting on a department nobody serves, created before the agent's two heads
    for (let i = 0; i < 200; i++) await openIn('elsewhere', `c-else-${i}`);
    clock.advance(1000);
    const heads = [await openIn('sales', 'c-head-1'), await openIn('sales', 'c-head-2')];
    assert.deepEqual(heads.map((c) => c.state), ['queued', 'queued']);
    const close = async (tx: Queryable, id: string) =>
      (await tx.query<{ state: string }>(`select (o.closed).state from sb_close_conversation($1, 'resolved', $2, null, null, null, 'test') o`, [id, clock.now()]))[0]!.state;
    const read = await ctx.db.transaction(async (tx) => {
      // the first plans the session's statements (planning reads indexes too)
      assert.equal(await close(tx, mine[0]!.id), 'resolved');
      return readBy(tx, async () => assert.equal(await close(tx, mine[1]!.id), 'resolved'), 'conversations');
    });
    const given = await ctx.db.query<{ id: string; state: string; agent_id: string }>(
      'select id, state, agent_id from conversations where id = any ($1) order by seq',
      [heads.map((c) => c.id)],
    );
    assert.deepEqual(given.map((c) => [c.state, c.agent_id]), [['assigned', me.id], ['assigned', me.id]]);
    // the close's own row and the head's by the key, the head's query a few
    // entries of the agent's department: not the 200 queued before it, which
    // the aging probe (sb_queue_ages) read through conversations_queue_by_department
    // and the head's lock through conversations_by_state_unheld
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 20, `a close's give read ${total} index entries of conversations: ${JSON.stringify(read)}`);
  });

  it('a sweep at capacity reads no queued conversation one by one', async () => {
    await makeAgent(ctx, { status: 'online', capacity: 1, departments: ['sales'] });
    const open = (customer: string) =>
      ctx.db.query(`select sb_open_conversation('api', null, $1, $2, 'sales', 0, $3, false, null)`, [customer, { id: customer }, clock.now()]);
    for (let i = 0; i < 201; i++) await open(`c-${i}`);
    const sweep = (tx: Queryable) => {
      clock.advance(1000);
      return tx.query('select * from sb_sweep_step($1, 100)', [clock.now()]);
    };
    const read = await ctx.db.transaction(async (tx) => {
      // the first plans the session's statements (planning reads indexes too)
      await sweep(tx);
      return readBy(tx, async () => void (await sweep(tx)), 'conversations');
    });
    // the probes for declines to clear and sticky waits ended each read the
    // first entry of their own index, not every queued conversation through
    // conversations_queued_since and conversations_by_state_unheld
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 20, `a sweep read ${total} index entries of conversations: ${JSON.stringify(read)}`);
  });

  it("a queueing open's place reads its conversation by the key, not the queue before it", async () => {
    const open = async (department: string, customer: string) =>
      (await ctx.db.query<{ id: string }>(`select (o.opened).id from sb_open_conversation('api', null, $1, $2, $3, 0, $4, false, null) o`, [
        customer,
        { id: customer },
        department,
        clock.now(),
      ]))[0]!.id;
    // 200 waiting on another department, nobody online: all queued
    for (let i = 0; i < 200; i++) await open('elsewhere', `c-else-${i}`);
    clock.advance(1000);
    const first = await open('sales', 'c-first');
    const mine = await open('sales', 'c-mine');
    const place = (tx: Queryable, id: string) =>
      tx.query<{ queue_position: number }>('select queue_position from sb_queue_place($1, $2, 300)', [id, clock.now()]);
    const { position, read } = await ctx.db.transaction(async (tx) => {
      // the first plans the session's statements (planning reads indexes too)
      await place(tx, first);
      let position = 0;
      const read = await readBy(tx, async () => void (position = (await place(tx, mine))[0]!.queue_position), 'conversations');
      return { position, read };
    });
    assert.equal(position, 2);
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 20, `a place read ${total} index entries of conversations: ${JSON.stringify(read)}`);
  });

  it('an agent who gained room is read by the key, not every online agent', async () => {
    await seedOnlineAgents('Online', 0);
    const me = await makeAgent(ctx, { status: 'online', capacity: 3 });
    const match = (tx: Queryable) => tx.query('select * from sb_match_for_agent($1, $2)', [clock.now(), me.id]);
    const read = await ctx.db.transaction(async (tx) => {
      // the first plans the session's statements (planning reads indexes too)
      await match(tx);
      return readBy(tx, async () => void (await match(tx)));
    });
    // nothing queued: the agent's row is all the match reads of agents, one
    // key probe (a PL/pgSQL select into stops at its first row: the walk read
    // every online agent before this one)
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 2, `a match for an agent read ${total} index entries of agents: ${JSON.stringify(read)}`);
  });

  // A queueing open at capacity: more agents than the shared path locks
  // (sb_queue_lock_limit(), 128), so after the shared attempt's count it
  // decides under the lock exclusive, where the pick found nobody by walking
  // agents_pick past every full agent (issue #22: 1,000 entries a queued
  // open on the bench). Only agents with room are read now (migration 0066).
  for (const [kind, capacity, skills] of [
    ['their own capacity', 3, null],
    ["the setting's capacity", null, null],
    ['a skill the conversation requires', 3, { es: 1 }],
  ] as const) {
    it(`a queueing open at capacity reads no full agent in the pick (agents with ${kind})`, async () => {
      if (capacity === null) await ctx.db.query(`update settings set value = '3'::jsonb where key = 'max_customers'`);
      // (skills inserted, not updated: an update's dead row versions are index entries too)
      await seedOnlineAgents('Full', 3, capacity, skills ? { es: 2 } : {});
      const open = async (customer: { id: string }, tx: Queryable = ctx.db) =>
        (await tx.query<{ state: string }>(
          `select (o.opened).state from sb_open_conversation('api', null, $1, $2, null, 0, $3, false, $4) o`,
          [customer.id, customer, clock.now(), skills],
        ))[0]!;
      // the queue not empty: the open goes straight to queueing
      assert.equal((await open({ id: 'c-first' })).state, 'queued');
      // and 200 queued on another department, in sticky waits not yet ended
      await ctx.db.query(
        `insert into conversations (channel, customer_id, customer, department, state, created_at, queued_at, updated_at,
                                    sticky_agent_id, sticky_until, required_skills)
         select 'api', 'w-' || i, jsonb_build_object('id', 'w-' || i), 'elsewhere', 'queued', $1, $1, $1,
                (select id from agents limit 1), $1::timestamptz + interval '1 hour', '{}'::jsonb
           from generate_series(1, 200) as i`,
        [clock.now()],
      );
      let readOfConversations: { name: string; n: number }[] = [];
      const read = await ctx.db.transaction(async (tx) => {
        const openIn = async (customer: string) => (await open({ id: customer }, tx)).state;
        // the first plans the session's statements (planning reads indexes too)
        assert.equal(await openIn('c-second'), 'queued');
        let state = '';
        const read = await readBy(tx, async () => {
          readOfConversations = await readBy(tx, async () => void (state = await openIn('c-third')), 'conversations');
        });
        assert.equal(state, 'queued');
        return read;
      });
      // the shared attempt counts up to sb_queue_lock_limit() + 1 agents who
      // serve it (129); the pick, none (it read the 200)
      const total = read.reduce((sum, r) => sum + r.n, 0);
      assert.ok(total <= 129 + 5, `a queueing open read ${total} index entries of agents: ${JSON.stringify(read)}`);
      // both paths' probes for ended sticky waits, and the queue guess: the
      // first entry of their own index each, not the other department's 200
      const ofConversations = readOfConversations.reduce((sum, r) => sum + r.n, 0);
      assert.ok(ofConversations <= 5, `a queueing open read ${ofConversations} index entries of conversations: ${JSON.stringify(readOfConversations)}`);
    });
  }

  it("an open's probes of the queue read no other department's queued conversations", async () => {
    const waiter = await makeAgent(ctx, { status: 'online', capacity: 3, departments: ['elsewhere'] });
    await makeAgent(ctx, { status: 'online', capacity: 100 });
    // 200 queued on another department, each in a sticky wait not yet ended
    await ctx.db.query(
      `insert into conversations (channel, customer_id, customer, department, state, created_at, queued_at, updated_at,
                                  sticky_agent_id, sticky_until, required_skills)
       select 'api', 'w-' || i, jsonb_build_object('id', 'w-' || i), 'elsewhere', 'queued', $1, $1, $1,
              $2::uuid, $1::timestamptz + interval '1 hour', '{}'::jsonb
         from generate_series(1, 200) as i`,
      [clock.now(), waiter.id],
    );
    const read = await ctx.db.transaction(async (tx) => {
      const openIn = async (customer: string) =>
        (await tx.query<{ state: string }>(
          `select (o.opened).state from sb_open_conversation('api', null, $1, $2, null, 0, $3, false, null) o`,
          [customer, { id: customer }, clock.now()],
        ))[0]!.state;
      // the first plans the session's statements (planning reads indexes too)
      assert.equal(await openIn('c-first'), 'assigned');
      let state = '';
      const read = await readBy(tx, async () => void (state = await openIn('c-second')), 'conversations');
      assert.equal(state, 'assigned');
      return read;
    });
    const total = read.reduce((sum, r) => sum + r.n, 0);
    assert.ok(total <= 5, `an open read ${total} index entries of conversations: ${JSON.stringify(read)}`);
  });

  it('the pick still takes the least loaded agent with room, of either kind of capacity', async () => {
    await ctx.db.query(`update settings set value = '3'::jsonb where key = 'max_customers'`);
    await seedOnlineAgents('Own', 3, 3);
    await seedOnlineAgents('Shared', 3, null);
    const own = await makeAgent(ctx, { status: 'online', capacity: 5 });
    const shared = await makeAgent(ctx, { status: 'online' });
    await ctx.db.query(`update agents set capacity = null, load = 1, last_assigned_at = null where id = $1`, [shared.id]);
    await ctx.db.query(`update agents set load = 2, last_assigned_at = null where id = $1`, [own.id]);
    // sb_pick_agent itself, for a conversation as it arrives; each pick then
    // given by hand (its load and last_assigned_at, as sb_assign writes them)
    const pick = async () => {
      clock.advance(1000);
      const [row] = await ctx.db.query<{ agent: string | null }>(
        `select sb_pick_agent(sb_arriving('api', null, 'c', '{}'::jsonb, null, 0, $1, false, null, sb_department_routing(null)), $1) as agent`,
        [clock.now()],
      );
      if (row!.agent) await ctx.db.query(`update agents set load = load + 1, last_assigned_at = $2 where id = $1`, [row!.agent, clock.now()]);
      return row!.agent === own.id ? 'own' : row!.agent === shared.id ? 'shared' : row!.agent;
    };
    const picks = [];
    for (let i = 0; i < 6; i++) picks.push(await pick());
    // shared at load 1; own at 2 before shared at 2 (never assigned: nulls
    // first); shared at 2; own at 3 and 4 (its capacity is 5, the setting's 3
    // is shared's); then nobody (the 400 others are full)
    assert.deepEqual(picks, ['shared', 'own', 'shared', 'own', 'own', null]);
  });

  {
    // Populated for each test: 3,000 closed conversations (one in ten with an
    // email, one in a hundred abandoned), 40 queued, 5 offered, 20 assigned.
    const populate = async (db: Queryable, agentId: string, now: Date) => {
      await db.query(
        `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, resolved_at, updated_at)
         select 'api', 'h-' || i,
                jsonb_build_object('id', 'h-' || i, 'name', 'Old ' || i) || case when i % 10 = 0 then jsonb_build_object('email', 'h' || i || '@example.test') else '{}' end,
                case when i % 100 = 0 then 'abandoned' else 'resolved' end, $1::uuid,
                $2::timestamptz - make_interval(secs => 10000 - i), $2::timestamptz - make_interval(secs => 10000 - i),
                $2::timestamptz - make_interval(secs => 10000 - i), $2::timestamptz - make_interval(secs => 9000 - i), $2
           from generate_series(1, 3000) i`,
        [agentId, now],
      );
      await db.query(
        `insert into conversations (channel, customer_id, customer, state, agent_id, created_at, queued_at, assigned_at, updated_at, offer_expires_at)
         select 'api', 'o-' || i, jsonb_build_object('id', 'o-' || i),
                case when i <= 40 then 'queued' when i <= 45 then 'offered' else 'assigned' end,
                case when i <= 40 then null else $1::uuid end, $2, $2, case when i > 45 then $2::timestamptz end, $2,
                case when i between 41 and 45 then $2::timestamptz + interval '30 seconds' end
           from generate_series(1, 65) i`,
        [agentId, now],
      );
      await db.exec('analyze conversations');
    };
    /** The plan of `sql` with `params`, with sequential scans priced out so that any index that can serve it is seen to. */
    const plan = (sql: string, params: unknown[]) =>
      ctx.db.transaction(async (tx) => {
        await tx.query('set local enable_seqscan = off');
        const rows = await tx.query<Record<string, string>>(`explain ${sql}`, params);
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });

    const seeded = async () => {
      const agent = await makeAgent(ctx, { status: 'away', capacity: 100 });
      await populate(ctx.db, agent.id, clock.now());
    };

    it("the dashboard's queue reads the queued and offered through an index", async () => {
      await seeded();
      const now = clock.now();
      const text = await plan(DASHBOARD_SQL, [now, 60, new Date(now.getTime() - 3_600_000), now]);
      assert.doesNotMatch(text, /Seq Scan on conversations/, text);
      assert.match(text, /conversations_by_state_unheld/, text);
    });

    it('a listing by state other than assigned or resolved reads through an index, and finds the rows', async () => {
      await seeded();
      for (const state of ['abandoned', 'queued', 'offered'] as const) {
        const text = await plan(
          `select * from conversations where state = $1 order by seq desc limit 50`,
          [state],
        );
        assert.doesNotMatch(text, /Seq Scan on conversations/, `${state}: ${text}`);
      }
      const abandoned = await listConversations(ctx.db, { state: 'abandoned', limit: 100 }, SYSTEM);
      assert.equal(abandoned.length, 30);
      const offered = await listConversations(ctx.db, { state: 'offered', limit: 100 }, SYSTEM);
      assert.equal(offered.length, 5);
    });

    it('a search by a whole email reads the email index', async () => {
      await seeded();
      const email = 'H2500@example.test';
      const text = await plan(SEARCH_ALL, [email, null, null, null, null, null, 20, 0, 20, null]);
      assert.match(text, /conversations_customer_email_given/, text);
      const [found] = await ctx.db.query<{ n: number }>(
        `select count(*)::int as n from conversations c where lower(c.customer ->> 'email') = lower($1::text)`,
        [email],
      );
      assert.equal(found!.n, 1);
    });
  }
});
