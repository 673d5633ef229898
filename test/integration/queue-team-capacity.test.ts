// sb_queue_team (routing/functions.sql, "Queue place") sums the slots of the
// agents who could serve a waiting conversation, for its expected wait: what
// a queueing open answers with (sb_queue_place), GET /api/v1/queue and the
// realtime waiting list read. An agent without a capacity of their own has
// the max_customers setting's (sb_default_capacity): read at most once a
// sum, not once per agent and sum (3,000 PL/pgSQL calls made a place
// read 7.8 ms with 1,000 such agents, against 0.3 ms with capacities of
// their own; issue #22).
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('routing: a queue team with the default capacity', (store) => {
  beforeEach(() => store().reset({ max_customers: 3 }));

  /** n agents straight into the table (no password hashing), `capacity` their own or null, this load and status. */
  const agents = (n: number, capacity: number | null, load: number, status: string, departments: string[] = []) =>
    store().db.query(
      `insert into agents (name, email, password_hash, role, status, capacity, load, departments, last_seen_at, created_at, updated_at)
       select 'Team agent ' || i || '-' || $5::text, 'team' || i || '-' || $5::text || '@example.test', 'no-login', 'agent', $4::text,
              $1::int, $3::int, $6::text[], now(), now(), now()
         from generate_series(1, $2::int) as i`,
      [capacity, n, load, status, `${capacity}-${load}-${status}-${departments.join('.')}`, departments],
    );

  it('sums the default for agents without a capacity of their own, reading it once a sum, not once an agent', async () => {
    await agents(40, null, 1, 'online'); // 3 slots each, 2 free
    await agents(5, 4, 4, 'online'); // their own 4, full
    await agents(10, null, 0, 'away'); // slots of the team, not online
    await agents(7, null, 0, 'online', ['sales']); // only in the sales team
    const { team, calls } = await store().db.transaction(async (tx) => {
      // Calls of PL/pgSQL functions are counted for this transaction from here on.
      await tx.exec(`set local track_functions = 'pl'`);
      const [row] = await tx.query<{ team: { slots: number; free: number; team_slots: number } }>(
        `select sb_queue_team(null, '{}'::jsonb, '[]'::jsonb, false, null) as team`,
      );
      const [counted] = await tx.query<{ calls: number }>(
        `select coalesce(sum(calls), 0)::int as calls from pg_stat_xact_user_functions where funcname = 'sb_default_capacity'`,
      );
      return { team: row!.team, calls: counted!.calls };
    });
    assert.deepEqual(team, { slots: 40 * 3 + 5 * 4 + 7 * 3, free: 40 * 2 + 7 * 3, team_slots: 40 * 3 + 5 * 4 + 10 * 3 + 7 * 3 });
    // at most once for each of the three sums (an InitPlan each), not once per agent (55 without a capacity)
    assert.ok(calls <= 3, `the default capacity was read ${calls} times for one team`);

    const [sales] = await store().db.query<{ team: { slots: number; free: number; team_slots: number } }>(
      `select sb_queue_team('sales', '{}'::jsonb, '[]'::jsonb, false, null) as team`,
    );
    assert.deepEqual(sales!.team, { slots: 7 * 3, free: 7 * 3, team_slots: 7 * 3 });
  });
});
