// What a queueing open's answer costs: its place read (sb_queue_place,
// routing/functions.sql, "Queue place") counts the conversations ahead
// (sb_queue_position) and sums the team's slots (sb_queue_team) for the
// expected wait. Both were PL/pgSQL with plan_cache_mode =
// force_custom_plan, so their statements were planned again at every call:
// most of a place read's time (0.86 ms against an open's 0.09 ms when it
// is assigned, bench/open-probe.ts; issue #22). Their plans are now kept
// (the team's uncommon terms planned per call by EXECUTE), and the answers
// must not move: checked here against the queries they replaced, written
// out with the values in place, for every kind of terms.
// And every walk with a skill requirement (the pick, the claim, the matches,
// the team) asked sb_skills_serve and sb_skill_score once per agent: SQL
// functions with a subquery, never inlined, so each ran as a query of its
// own for every agent (0.66 against 0.19 ms for 129 agents). They are
// inlined now, their levels compared by PL/pgSQL without a query.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('routing: the place read keeps its plans and its answers', (store) => {
  beforeEach(() => store().reset({ max_customers: 3 }));

  type Team = { slots: number; free: number; team_slots: number };

  /** n agents straight into the table, as queue-team-capacity.test.ts makes them. */
  const agents = (n: number, capacity: number | null, load: number, status: string, departments: string[], skills: object, deleted = false) =>
    store().db.query(
      `insert into agents (name, email, password_hash, role, status, capacity, load, departments, skills, deleted_at, last_seen_at, created_at, updated_at)
       select 'Place agent ' || i || '-' || $5::text, 'place' || i || '-' || md5($5::text) || '@example.test', 'no-login', 'agent', $4::text,
              $1::int, $3::int, $6::text[], $7::jsonb, case when $8::boolean then now() end, now(), now(), now()
         from generate_series(1, $2::int) as i`,
      [capacity, n, load, status, JSON.stringify([capacity, load, status, departments, skills, deleted]), departments, JSON.stringify(skills), deleted],
    );

  it("keeps the position's and the team's plans for the session rather than planning them at every call", async () => {
    const rows = await store().db.query<{ name: string; config: string[] | null }>(
      `select proname as name, proconfig as config from pg_proc where proname in ('sb_queue_position', 'sb_queue_team') order by 1`,
    );
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.ok(row.config?.includes('plan_cache_mode=force_generic_plan'), `${row.name}: ${JSON.stringify(row.config)}`);
    }
  });

  it('sums the same team as before for every kind of terms', async () => {
    await agents(6, null, 1, 'online', ['sales'], { es: 2 });
    await agents(4, 5, 5, 'online', ['sales'], { es: 1 });
    await agents(3, 2, 0, 'away', ['sales', 'support'], {});
    await agents(5, null, 0, 'online', ['support'], { es: 3, en: 1 });
    await agents(2, 4, 1, 'online', [], { en: 2 });
    await agents(3, 4, 0, 'online', ['sales'], { es: 3 }, true); // deleted: in no team
    const [sticky] = await store().db.query<{ id: string }>(`select id from agents where departments = '{support}' order by id limit 1`);
    const departments = [null, 'sales', 'support', 'nobody'];
    const skillsSets = [{}, { es: 1 }, { es: 3 }, { es: 2, en: 1 }];
    const overflows = [[], [{ to: 'support', after_s: 0 }]];
    const stickies = [null, sticky!.id];
    let checked = 0;
    for (const department of departments)
      for (const skills of skillsSets)
        for (const relaxed of [false, true])
          for (const overflow of overflows)
            for (const stickyAgent of stickies) {
              const params = [department, JSON.stringify(skills), JSON.stringify(overflow), relaxed, stickyAgent];
              const [got] = await store().db.query<{ team: Team }>(
                `select sb_queue_team($1::text, $2::jsonb, $3::jsonb, $4::boolean, $5::uuid) as team`,
                params,
              );
              // the query sb_queue_team ran before, for these terms
              const [want] = await store().db.query<{ team: Team }>(
                `select jsonb_build_object(
                          'slots', coalesce(sum(coalesce(a.capacity, 3)) filter (where a.status = 'online'), 0),
                          'free', coalesce(sum(greatest(0, coalesce(a.capacity, 3) - a.load)) filter (where a.status = 'online'), 0),
                          'team_slots', coalesce(sum(coalesce(a.capacity, 3)), 0)) as team
                   from agents a
                  where a.deleted_at is null
                    and ($1::text is null or $1::text = any (a.departments)
                         or exists (select 1 from jsonb_array_elements($3::jsonb) r where r ->> 'to' = any (a.departments)))
                    and ($2::jsonb = '{}'::jsonb or $4::boolean
                         or not exists (select 1 from jsonb_each_text($2::jsonb) r where coalesce((a.skills ->> r.key)::int, 0) < r.value::int))
                    and ($5::uuid is null or a.id = $5::uuid)`,
                params,
              );
              assert.deepEqual(got!.team, want!.team, JSON.stringify(params));
              checked += 1;
            }
    assert.equal(checked, 4 * 4 * 2 * 2 * 2);
  });

  it('counts the same place as before in every department, priority and aging', async () => {
    // 60 queued: three queues (sales, support, none), priorities 0..2, interleaved
    await store().db.query(
      `insert into conversations (channel, customer_id, customer, state, department, priority, created_at, queued_at, updated_at)
       select 'api', 'place-' || i, jsonb_build_object('id', 'place-' || i), 'queued',
              (array['sales', 'support', null])[1 + i % 3], (i / 3) % 3,
              now() - make_interval(secs => 600 - i), now() - make_interval(secs => 600 - i), now()
         from generate_series(1, 60) as i`,
    );
    const reference = `select c.id, 1 + (select count(*) from conversations x
                                      where x.state = 'queued' and x.department is not distinct from c.department
                                        and (sb_effective_priority(x, now()) > sb_effective_priority(c, now())
                                             or (sb_effective_priority(x, now()) = sb_effective_priority(c, now()) and x.seq < c.seq)))::int as position
                         from conversations c where c.state = 'queued' order by c.seq`;
    const positions = (ages: boolean) =>
      store().db.query<{ id: string; position: number }>(
        `select c.id, sb_queue_position(c, now(), ${ages}) as position from conversations c where c.state = 'queued' order by c.seq`,
      );
    const before = await store().db.query<{ id: string; position: number }>(reference);
    assert.deepEqual(await positions(false), before);
    assert.deepEqual(await positions(true), before);
    // aging on in one department: its conversations gain priority with their wait
    await store().db.query(`update conversations set aging_per_min = 30 where department = 'support'`);
    const aged = await store().db.query<{ id: string; position: number }>(reference);
    assert.notDeepEqual(aged, before);
    assert.deepEqual(await positions(true), aged);
    // and the place read answers with them
    for (const { id, position } of aged.filter((_, i) => i % 7 === 0)) {
      const [place] = await store().db.query<{ queue_position: number }>(`select queue_position from sb_queue_place($1, now(), 300)`, [id]);
      assert.equal(place!.queue_position, position);
    }
  });

  it('inlines the skills test and the skill score into a walk: no call of either per agent, and the same agent picked', async () => {
    await agents(8, 3, 0, 'online', [], { es: 1 });
    await agents(4, 3, 0, 'online', [], { es: 2, en: 1 });
    await agents(6, 3, 0, 'online', [], { en: 3 });
    const { opened, calls } = await store().db.transaction(async (tx) => {
      // Calls of SQL and PL/pgSQL functions are counted for this transaction from here on; an inlined one is not called.
      await tx.exec(`set local track_functions = 'all'`);
      const [row] = await tx.query<{ agent: string | null; state: string }>(
        `select (o.opened).agent_id as agent, (o.opened).state from sb_open_conversation('api', null, 'skills-1', '{"id": "skills-1"}', null, 0, now(), false, '{"es": 1}') o`,
      );
      const counted = await tx.query<{ name: string; calls: number }>(
        `select funcname as name, sum(calls)::int as calls from pg_stat_xact_user_functions
          where funcname in ('sb_skills_serve', 'sb_skill_score', 'sb_skills_cover', 'sb_skills_sum') group by 1`,
      );
      return { opened: row!, calls: Object.fromEntries(counted.map((r) => [r.name, r.calls])) };
    });
    assert.equal(opened.state, 'assigned');
    // the best match: es 2 (and en 1, which the requirement does not count), then the one idle longest
    const [agent] = await store().db.query<{ skills: unknown }>(`select skills from agents where id = $1`, [opened.agent]);
    assert.deepEqual(agent!.skills, { es: 2, en: 1 });
    assert.equal(calls.sb_skills_serve ?? 0, 0, JSON.stringify(calls));
    assert.equal(calls.sb_skill_score ?? 0, 0, JSON.stringify(calls));
    // the walk did test the agents' skills
    assert.ok((calls.sb_skills_cover ?? 0) >= 12, JSON.stringify(calls));
  });
});
