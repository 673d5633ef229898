import type pg from 'pg';
import type { Db } from './db.js';

// PL/pgSQL compiles a function, and plans each of its statements, on a
// session's first run of them, and keeps both for the session. On a pool
// connection that had never closed a conversation, the resolve that first
// did paid it: 22.3 ms against 2.0 ms for the next close on the same
// connection (bench/resolve-tail.ts --plan-probe, load 6), one resolve in a
// few dozen of a bench's, which made its p99. So every connection runs the
// resolve's functions once before it serves anything, and rolls it all
// back: the compiled functions and plans stay, nothing else does.
// Inputs that match no row reach only the close's first reads; a real
// close that hands its slot over (sb_take_head's head query and locking
// read, the two updates, sb_assign, the events insert) was still planned by
// a connection's first resolve, 8.2 ms. So the warm-up also makes a close
// of its own, on rows only it can see: an agent with one slot, the
// conversation they hold and one queued conversation, which it inserts;
// it closes the held one (the slot handed to the queued one), undoes that,
// closes it again with the agent's capacity at 0 (the slot freed, no head
// asked for) and undoes everything with its raise. The queued one is the head of every queue walk: the highest
// priority there is, and a sticky wait for that agent alone, so no other
// agent is ahead of them (which would take the close to the exclusive
// path; while a queued conversation ages, every close with a head goes
// there, see below). No real row is read for update or written: a real head locked
// here would be skipped by a concurrent close. The agent's email is unique
// to the run, so two connections warming at once do not wait on each
// other's unique-index entry.
// Each close runs in a block of its own, undone by a raise of its own. A
// close returns holding the routing lock shared, and the transaction keeps
// what a block that ends normally took: a later close in the same warm-up
// that falls back to the exclusive path (any close while a queued
// conversation ages does) then asked for the lock exclusive while holding
// it shared, an upgrade that waits for every other shared holder. Two
// connections warming at once waited on each other until PostgreSQL
// aborted one as a deadlock (test/integration/store-warm-up.test.ts). Rolled
// back one by one, no close holds anything when the next one starts; the
// plans and compiled functions stay, as they do across the final raise.

/** One statement (no transaction left open whatever happens); its effects undone by the raise. */
export const WARM_UP = /* sql */ `do $warm$
declare
  v_agent uuid;
  v_held uuid;
  v_head uuid;
begin
  begin
    perform sb_close_conversation('00000000-0000-0000-0000-000000000000'::uuid, 'resolved', now(), 'warm-up', null, null, 'warm-up');
    raise exception using errcode = 'SBWUP';
  exception when sqlstate 'SBWUP' then
    null;
  end;
  perform sb_head_for_agent(now(), null::agents, false, sb_queue_ages(), '{}'::uuid[]);
  perform sb_agent_ahead(null::conversations, now(), null::agents);
  perform sb_department_routing('warm-up');
  perform sb_assign(now(), null::conversations, null::uuid, 0);
  perform sb_given_event(null::conversations);
  perform sb_close_sla_breach(null::conversations, now());
  perform sb_log_events(now(), jsonb_build_array(sb_event('warm-up', null, null, '{}'::jsonb)));
  insert into agents (name, email, password_hash, role, status, capacity, load, created_at, updated_at)
  values ('warm-up', 'warm-up-' || gen_random_uuid() || '@warm-up.invalid', '!', 'agent', 'online', 1, 1, now(), now())
  returning id into v_agent;
  insert into conversations (channel, customer_id, customer, state, agent_id, created_at, assigned_at, updated_at, required_skills)
  values ('api', 'warm-up', '{}', 'assigned', v_agent, now(), now(), now(), '{}')
  returning id into v_held;
  insert into conversations (channel, customer_id, customer, priority, state, created_at, queued_at, updated_at, required_skills,
                             sticky_agent_id, sticky_until)
  values ('api', 'warm-up', '{}', 2147483647, 'queued', now(), now(), now(), '{}', v_agent, now() + interval '1 hour')
  returning id into v_head;
  -- the slot handed to the queued one
  begin
    perform sb_close_conversation(v_held, 'resolved', now(), 'warm-up', null, null, 'warm-up');
    raise exception using errcode = 'SBWUP';
  exception when sqlstate 'SBWUP' then
    null;
  end;
  -- the slot freed: with no capacity left, no head is asked for
  update agents set capacity = 0 where id = v_agent;
  begin
    perform sb_close_conversation(v_held, 'resolved', now(), 'warm-up', null, null, 'warm-up');
    raise exception using errcode = 'SBWUP';
  exception when sqlstate 'SBWUP' then
    null;
  end;
  raise exception using errcode = 'SBWUP';
exception when sqlstate 'SBWUP' then
  null;
end
$warm$`;

type Warmable = { query(text: string): Promise<unknown> };

const warmed = new WeakSet<pg.Pool>();

/**
 * Warms the pool's connections, all of them (up to `max`, opened now if
 * need be), before the server serves anything: a pool grows when the load
 * does, so its new connections would otherwise be made, and planned, in a
 * burst's path. From then on every connection the pool makes (one lost and
 * replaced) runs WARM_UP first: pg-pool emits 'connect' before it hands the
 * new client over, and a client runs its queries in the order given. A
 * failed warm-up costs only the plans (the first close makes them).
 * PGlite has one connection, which warms itself on its first close.
 */
export async function warmConnections(db: Db): Promise<number> {
  const pool = (db as Db & { pool?: pg.Pool }).pool;
  if (db.kind !== 'postgres' || pool === undefined || warmed.has(pool)) return 0;
  warmed.add(pool);
  // Checked out together, so each is a connection of its own. One the server
  // refuses (max_connections) is left to be made on demand, as before.
  const opened = await Promise.allSettled(Array.from({ length: pool.options.max ?? 10 }, () => pool.connect()));
  const clients = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    await Promise.all(clients.map((client) => client.query(WARM_UP).catch(() => undefined)));
  } finally {
    for (const client of clients) client.release();
  }
  pool.on('connect', (client: Warmable) => void client.query(WARM_UP).catch(() => undefined));
  return clients.length;
}
