-- Custom SQLSTATEs (class SB, ours: PostgreSQL uses no class starting with
-- S). Each is raised to roll back a subtransaction or the whole call and is
-- caught by name; a new one takes the next free number and a row here.
--   SB001  sb_exclusive_path(): a fast path (shared routing lock) met a case
--          that needs the exclusive lock; caught in sb_open_conversation and
--          sb_close_conversation, which roll the fast path back and retry
--          under the exclusive lock. Never reaches a client.
--   SB002  sb_end_chat: the conversation was assigned or requeued since its
--          guess of resolved/abandoned; caught there, which guesses again.
--   SB003  sb_open_conversation: a fast open whose claim found nobody with
--          room; caught there, which rolls the claim's row locks back and
--          tries once more straight to queueing (sb_lock_full_agents).
--   SB010  sb_open_room: unknown ticketer (or deleted meanwhile). Reaches
--          src/channels/rapidpro/tickets.ts (UNKNOWN_TICKETER): a 404.
--   SB011  sb_open_room: the ticket is open for another ticketer or through
--          the core API. tickets.ts (TICKET_ELSEWHERE): a 409.
--   SB012  sb_open_room: the ticket was opened meanwhile under another
--          contact token. tickets.ts (CALL_AGAIN): the call is made once more.
--
-- One call per routing change (issue #22, item 1).
--
-- A routing change used to be several round trips under the routing lock:
-- BEGIN with the lock, the decision's statements, then the events with
-- COMMIT. Each round trip is time the lock is held while the server waits
-- on the network. Here the routing operations become functions: one call
-- takes the lock, decides, writes the conversation, the agents' loads and
-- the events, and returns what the caller answers with and hands to its
-- listeners. The same functions run on PGlite.
--
-- migrate() (src/store/migrate.ts) runs this file, in the migrations'
-- transaction, after the numbered migrations whenever its text changed, so
-- it must stay re-runnable: `create or replace` only. A function whose
-- arguments or result change needs a `drop function if exists` with its old
-- signature first, or the old one stays beside it as an overload.
--
-- This file is the one home of the allocation policy. The TS side
-- (src/routing/) calls these functions; it does not restate the policy.
--
-- The policy, which keeps Switchboard's three promises (docs/architecture.md):
--   * capacity: an agent gets a conversation only while online, not deleted,
--     and below capacity (their own, else the max_customers setting);
--   * who: among such agents serving the conversation's department (any
--     agent when it has none, or one it overflowed to) with the skills it
--     requires (until relaxed), the best skill match, then the least loaded,
--     ties to the one idle longest (oldest last_assigned_at, never-assigned
--     first), then by id;
--   * what: the queue is served by priority, then arrival (seq): a requeued
--     conversation keeps its seq and so its place;
--   * work-conserving: every routing transaction ends with no queued
--     conversation that an agent with room could serve. So when one agent
--     gains room only that agent can match (sb_match_for_agent), and a new
--     conversation taken at once overtakes nobody.
-- The hot path's functions (open, close, the pick, the matches, assign; not
-- the events insert, see sb_log_events) run with plan_cache_mode = force_generic_plan: their
-- statements' plans do not depend on the parameters (each walks an index in
-- the policy's order), and PL/pgSQL otherwise builds custom plans, planning
-- them again at every call, because a plan with the conversation's values
-- folded in looks cheaper. Planning was a fifth of an open's time.
-- Every function takes the routing advisory lock first (LOCKS.routing in
-- src/store/db.ts, 7301001): inside a transaction that already holds it,
-- taking it again is free.
--
-- THE LOCK ORDER (issue #22; docs/architecture.md, "Lock order"). Every
-- transaction takes its locks in this order and never back:
--   1. the routing advisory lock (shared or exclusive; sb_open_room's
--      contact lock 7301011 comes before it, and nothing else takes that);
--   2. agents' rows — several in id order (sb_lock_full_agents, the Qiscus
--      pass's mirrors) or skip locked (sb_claim_agent: no wait);
--   3. conversations' rows — several in queue order (priority, seq), or a
--      close's own row and then its head (sb_take_head, skip locked);
--   4. the rows a change writes besides (events, messages, sessions,
--      outbox), and its new rows (an open's insert: the unique index on
--      open external refs waits only for another open of the same ref).
-- The shared holders run side by side, so for them the order is what rules
-- out a cycle: a queueing open (agents for share, then its insert), a fast
-- open (one agent skip locked, then its insert), a close (its agent's row,
-- read without a lock first and checked again on the locked conversation,
-- then its conversation's, then its head's), the Qiscus pass (mirrors, then
-- rooms). A close used to lock its conversation first: holding it while it
-- waited for its agent (held for share by a queueing open), it was waited
-- for by another close whose head lock followed that conversation's update
-- chain (PostgreSQL's heap_lock_updated_tuple waits despite SKIP LOCKED when
-- the head's updater commits during the lock), whose agent the open waited
-- for: a deadlock (bench/RESULTS.md). Waits from a conversation to another
-- (a close's head) cannot cycle: a close reads its head with a snapshot
-- taken after it locked its own conversation, so along a chain of such
-- waits the snapshots only grow later.
-- Exclusive holders exclude the shared ones, but not the changes that take
-- no routing lock: a message, note or label locks its conversation and
-- no agent; a rating locks a resolved conversation (no key update), then
-- key-shares its agent by the foreign key, which no lock but FOR UPDATE
-- blocks; a read marker key-shares its agent and its conversation; a
-- heartbeat writes one agent row, alone. So the exclusive
-- paths lock an agent FOR UPDATE (which a key share waits for) before any
-- conversation too: sb_pick, sb_transfer_conversation (the target),
-- sb_expire_offers, sb_update_agent, sb_delete_agent, sb_resume_agent.
-- A write of an agent's load after a conversation (no key update: it
-- conflicts with no key share) is left where it is: its only other writers
-- are routing changes, which the lock orders, and a heartbeat.

-- An agent `a` has room: the capacity promise. An agent's capacity is
-- their own, else the max_customers setting (sb_default_capacity).
-- sb_capacity must stay free of subqueries: PostgreSQL inlines a SQL
-- function only when its body has none, and a function it does not inline
-- is a call per row, with its own executor start, for every agent a pick
-- walks past (issue #22: 1,000 such calls made an open 5–12 ms).
-- And a SQL function that is not inlined is parsed and planned again by
-- every statement execution that calls it; PL/pgSQL keeps its plans for
-- the session. So the helpers below that need a subquery are PL/pgSQL.
create or replace function sb_default_capacity() returns int language plpgsql stable as $$
begin
  return (select (value #>> '{}')::int from settings where key = 'max_customers');
end
$$;
create or replace function sb_capacity(a agents) returns int language sql stable as $$
  select coalesce(a.capacity, sb_default_capacity())
$$;
-- The same test for a pick that walks many agents: p_default is
-- sb_default_capacity() read once by the caller, so an agent without a
-- capacity of their own costs no call either. The callers' queries pass
-- `(select sb_default_capacity())`, an uncorrelated subquery: an InitPlan,
-- run at most once per execution and only when the walk reaches an agent
-- without a capacity of their own (coalesce asks it no sooner), so a team
-- whose agents all have one never reads the setting (it was read on every
-- claim, pick and close's give, 1.6 times a conversation).
create or replace function sb_has_room(a agents, p_default int) returns boolean language sql immutable as $$
  select a.load < coalesce(a.capacity, p_default)
$$;

-- A timestamp as JavaScript's Date#toISOString writes it, as events have always carried them.
-- Stable, not immutable, as to_char is: PostgreSQL inlines an immutable SQL
-- function only when its body is immutable too, and every conversation's
-- JSON calls this eight times (the same holds for sb_event below).
create or replace function sb_iso(t timestamptz) returns text language sql stable as $$
  select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A conversation as the API and events show it: toConversation in
-- src/conversations/model.ts, without queue information (events never
-- carry it). The two must stay alike: the event tests compare them.
create or replace function sb_conversation_json(c conversations) returns jsonb language sql stable as $$
  select jsonb_build_object(
    'id', c.id,
    'channel', c.channel,
    'external_ref', c.external_ref,
    'customer', jsonb_build_object(
      'id', c.customer -> 'id',
      'name', coalesce(c.customer -> 'name', 'null'::jsonb),
      'email', coalesce(c.customer -> 'email', 'null'::jsonb),
      'phone', coalesce(c.customer -> 'phone', 'null'::jsonb),
      'fields', coalesce(nullif(c.customer -> 'fields', 'null'::jsonb), '{}'::jsonb)),
    'customer_verified', c.customer_verified,
    'department', c.department,
    'priority', c.priority,
    'state', c.state,
    'agent_id', c.agent_id,
    'created_at', sb_iso(c.created_at),
    'queued_at', sb_iso(c.queued_at),
    'assigned_at', sb_iso(c.assigned_at),
    'resolved_at', sb_iso(c.resolved_at),
    'resolve_reason', c.resolve_reason,
    'note', c.note,
    'offer_expires_at', case when c.state = 'offered' then sb_iso(c.offer_expires_at) end,
    'labels', to_jsonb(coalesce(c.labels, '{}')),
    'required_skills', c.required_skills,
    'sla_due_at', sb_iso(c.sla_due_at),
    'first_response_at', sb_iso(c.first_response_at),
    'sla_breached_at', sb_iso(c.sla_breached_at),
    'queue_position', null,
    'expected_wait_seconds', null)
$$;

-- A department's effective routing settings: its row's settings over the
-- defaults. The defaults are the policy as it was before per-department
-- settings (mode auto, nothing sticky, no aging, no SLA, no skills), and
-- this is their one home: GET /api/v1/departments/:name/routing reads them
-- here. A conversation without a department gets the defaults.
--   mode                        'auto' (assigned at once), 'offer' (the agent must
--                               accept within offer_timeout_s), 'manual' (agents pick)
--   sticky_window_s             a returning customer goes back to their last agent
--                               when that conversation ended within this window; 0 off
--   sticky_wait_s               how long a new conversation waits for that agent
--                               when they are busy or away; 0: route normally at once
--   offer_timeout_s             seconds an agent has to accept an offer
--   offer_expiries_before_away  offers an agent lets expire in a row before being set away
--   manual_order                'in_order': only the queue's head can be picked; 'any'
--   overflow                    [{after_s, to}]: after waiting after_s, agents of
--                               department `to` may serve the conversation too
--   aging_per_min               priority gained per minute waited; 0 off
--   sla_first_response_s        first response target in seconds; null: none
--   required_skills             {skill: minimum level} every conversation here needs
--   skills_relax_after_s        after this wait the skill requirement is dropped; null: never
create or replace function sb_department_routing(p_department text) returns jsonb language plpgsql stable as $$
declare
  -- A plain expression (no query): PL/pgSQL evaluates it without the executor.
  defaults jsonb := jsonb_build_object(
    'mode', 'auto',
    'sticky_window_s', 0,
    'sticky_wait_s', 0,
    'offer_timeout_s', 30,
    'offer_expiries_before_away', 3,
    'manual_order', 'in_order',
    'overflow', '[]'::jsonb,
    'aging_per_min', 0,
    'sla_first_response_s', null,
    'required_skills', '{}'::jsonb,
    'skills_relax_after_s', null);
begin
  -- No department, no row to read (an open without one asks at every call).
  if p_department is null then
    return defaults;
  end if;
  return defaults || coalesce((select d.settings from department_routing d where d.department = p_department), '{}'::jsonb);
end
$$;

-- One event, as sb_log_events takes them.
create or replace function sb_event(p_type text, p_conversation uuid, p_agent uuid, p_data jsonb) returns jsonb language sql stable as $$
  select jsonb_build_object('type', p_type, 'conversation_id', p_conversation, 'agent_id', p_agent, 'data', p_data)
$$;

-- Appends events (a jsonb array of sb_event) to the log, ids in array order,
-- and returns them with their ids. It must be the call's last statement:
-- xid_bound (migration 0022) is computed by this insert, after every lock
-- the call takes.
-- A routing change logs two to four events, under the routing lock: for
-- those the ids are set into p_events (jsonb_set), where building every
-- event again from its row (jsonb_build_object, jsonb_agg) copies each
-- conversation's JSON key by key: 75–90 against 55 µs for an open's two
-- (issue #22, item 3). jsonb_set copies the whole array each time, so a
-- long batch (a drain, a sweep) is built from the rows inserted, in one
-- statement: each event with the same five keys sb_event gives it, and
-- its id.
-- No `set plan_cache_mode` here, unlike the other hot functions: a SET clause
-- is applied and undone at every call (≈ 10 µs of ≈ 165 in PGlite, and this
-- runs 2.4 times a conversation), and its statements' custom plans cost the
-- same as the generic one (nothing in them folds with p_events' value), so
-- the plan cache settles on the generic plan after its first five calls.
create or replace function sb_log_events(p_now timestamptz, p_events jsonb) returns jsonb language plpgsql as $$
declare
  n int := jsonb_array_length(p_events);
  ids bigint[];
  logged jsonb;
begin
  if n = 0 then
    return p_events;
  end if;
  if n <= 8 then
    -- ids are drawn in the select's order (e.n), so id order is array order
    with added as (
      insert into events (type, conversation_id, agent_id, data, created_at)
      select e.value ->> 'type', (e.value ->> 'conversation_id')::uuid, (e.value ->> 'agent_id')::uuid, e.value -> 'data', p_now
        from jsonb_array_elements(p_events) with ordinality as e(value, n)
       order by e.n
      returning id
    )
    select array_agg(a.id order by a.id) into ids from added a;
    logged := p_events;
    for i in 1 .. n loop
      logged := jsonb_set(logged, array[(i - 1)::text, 'id'], to_jsonb(ids[i]));
    end loop;
    return logged;
  end if;
  with added as (
    insert into events (type, conversation_id, agent_id, data, created_at)
    select e.value ->> 'type', (e.value ->> 'conversation_id')::uuid, (e.value ->> 'agent_id')::uuid, e.value -> 'data', p_now
      from jsonb_array_elements(p_events) with ordinality as e(value, n)
     order by e.n
    returning id, jsonb_build_object('id', id, 'type', type, 'conversation_id', conversation_id, 'agent_id', agent_id, 'data', data) as event
  )
  select jsonb_agg(a.event order by a.id) into logged from added a;
  return logged;
end
$$;

-- Skills (docs/routing.md#skills). Two requirements made one: every skill
-- of either, at the higher of the two levels.
create or replace function sb_merge_skills(p_a jsonb, p_b jsonb) returns jsonb language sql immutable as $$
  select case
    when p_b = '{}'::jsonb then p_a
    when p_a = '{}'::jsonb then p_b
    else (select jsonb_object_agg(s.key, s.level)
            from (select e.key, max(e.value::int) as level
                    from (select * from jsonb_each_text(p_a) union all select * from jsonb_each_text(p_b)) e
                   group by e.key) s)
  end
$$;

-- Conversation c's whole requirement: the higher level per skill over what
-- its opener asked for (requested_skills), its department's, its channel's
-- (channel_routing) and its labels' (labels.required_skills). Read by the
-- terms trigger and the refreshes; matching reads the stored result.
-- PL/pgSQL, not SQL: a SQL function with subqueries is not inlined, and
-- one called from the trigger's PL/pgSQL is parsed and planned again in
-- every transaction (its cached state dies with the transaction's
-- expression state); that was a third of an open's time in PostgreSQL
-- (issue #22). PL/pgSQL keeps the plan for the session.
create or replace function sb_required_skills(c conversations) returns jsonb language plpgsql stable as $$
begin
  -- The common case, nothing required anywhere: two probes instead of the
  -- merge below (which would give '{}' too).
  if c.requested_skills = '{}'::jsonb and coalesce(cardinality(c.labels), 0) = 0
     and not exists (select 1 from channel_routing r where r.channel = c.channel and r.required_skills <> '{}'::jsonb)
     and (c.department is null
          or not exists (select 1 from department_routing d
                          where d.department = c.department and coalesce(d.settings -> 'required_skills', '{}'::jsonb) <> '{}'::jsonb)) then
    return '{}'::jsonb;
  end if;
  return coalesce((select jsonb_object_agg(e.key, e.level)
                     from (select e.key, max(e.value::int) as level
                             from (select c.requested_skills as skills
                                   union all
                                   select case when c.department is null then '{}'::jsonb
                                               else coalesce((select d.settings -> 'required_skills' from department_routing d
                                                               where d.department = c.department), '{}'::jsonb) end
                                   union all
                                   select r.required_skills from channel_routing r where r.channel = c.channel
                                   union all
                                   select l.required_skills from labels l
                                    where cardinality(c.labels) > 0 and l.name = any (c.labels)) src,
                                  jsonb_each_text(src.skills) e
                            group by e.key) e), '{}'::jsonb);
end
$$;

-- The department's terms on a conversation (migration 0030), laid on the
-- row whenever it enters a department (insert, transfer), so matching
-- reads the row and never the settings. When the department's settings
-- change, sb_refresh_department_terms lays the new terms on its open ones.
-- The required skills also take in its channel's and its labels'
-- (sb_required_skills, migration 0034): worked out again when its labels
-- change. A label change alone touches nothing else, and nothing on a
-- closed conversation (its terms are history).
-- sb_with_terms is the trigger's work on a row in memory: an open asks
-- the pick about the conversation before inserting it (as it will be
-- inserted, so it is inserted once, already given: sb_open_conversation).
create or replace function sb_with_terms(c conversations) returns conversations language plpgsql stable as $$
declare
  s jsonb;
begin
  c.required_skills := sb_required_skills(c);
  if c.department is null then
    c.skills_relax_after_s := null;
    c.overflow := '[]'::jsonb;
  else
    s := sb_department_routing(c.department);
    c.skills_relax_after_s := (s ->> 'skills_relax_after_s')::int;
    c.overflow := s -> 'overflow';
  end if;
  return c;
end
$$;
create or replace function sb_conversation_terms() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and old.department is not distinct from new.department and old.requested_skills is not distinct from new.requested_skills then
    if new.state in ('queued', 'offered', 'assigned') then
      new.required_skills := sb_required_skills(new);
    end if;
    return new;
  end if;
  return sb_with_terms(new);
end
$$;
-- every insert that does not bring its terms (required_skills null: the
-- column has no default, migration 0051): its channel may require skills
-- (one primary-key probe of channel_routing). The fast open brings them
-- (the fast open's insert: worked out once, by sb_arriving, for the claim).
drop trigger if exists conversations_terms on conversations;
create trigger conversations_terms before insert on conversations
  for each row when (new.required_skills is null) execute function sb_conversation_terms();
drop trigger if exists conversations_terms_moved on conversations;
create trigger conversations_terms_moved before update of department, requested_skills, labels on conversations
  for each row when (old.department is distinct from new.department or old.requested_skills is distinct from new.requested_skills
                     or old.labels is distinct from new.labels)
  execute function sb_conversation_terms();

-- A department's settings changed: its open conversations take the new
-- terms (a waiting conversation overflows or relaxes by the new rules,
-- counted from when it entered the queue). The caller matches afterwards.
create or replace function sb_refresh_department_terms(p_department text) returns void language sql as $$
  update conversations c
     set required_skills = sb_required_skills(c),
         skills_relax_after_s = (s.settings ->> 'skills_relax_after_s')::int,
         overflow = s.settings -> 'overflow'
    from (select sb_department_routing(p_department) as settings) s
   where c.department = p_department and c.state in ('queued', 'offered', 'assigned')
$$;

-- Agent `a` has every skill conversation c requires, each at its level or
-- above, unless c has waited skills_relax_after_s and the requirement is
-- dropped. Only called for a conversation with a requirement.
-- No subquery, so it is inlined into sb_agent_serves and so into every walk
-- that asks it: with jsonb_each_text's subquery it was a SQL function that
-- could not be, parsed and planned at every statement that called it and
-- run as a query of its own for every agent walked (bench/open-probe.ts
-- --skills; 0.66 against 0.19 ms for a walk of 129 agents). The levels are
-- compared by sb_skills_cover, PL/pgSQL without a query.
create or replace function sb_skills_cover(p_skills jsonb, p_required jsonb) returns boolean language plpgsql immutable as $$
declare
  v_keys jsonb := coalesce(jsonb_path_query_array(p_required, '$.keyvalue().key'), '[]'::jsonb);
  v_key text;
begin
  for i in 0 .. jsonb_array_length(v_keys) - 1 loop
    v_key := v_keys ->> i;
    if coalesce((p_skills ->> v_key)::int, 0) < (p_required ->> v_key)::int then
      return false;
    end if;
  end loop;
  return true;
end
$$;

-- Waits are measured from queued_at to no earlier than queued_at itself
-- (greatest): a close or match reads the time as it starts, and an open in
-- another process may queue, by its own clock, a moment after that and
-- commit before the queue is read; after 0 s such a conversation has waited
-- enough (by any longer wait it has not, either way).
create or replace function sb_skills_serve(a agents, c conversations, p_now timestamptz) returns boolean language sql stable as $$
  select (c.skills_relax_after_s is not null and greatest(p_now, c.queued_at) >= c.queued_at + make_interval(secs => c.skills_relax_after_s))
      or sb_skills_cover(a.skills, c.required_skills)
$$;

-- Agent `a` is in a department conversation c overflows to by p_now: a step
-- of c's chain whose after_s c has waited. Only called when c has a chain.
create or replace function sb_overflow_serves(a agents, c conversations, p_now timestamptz) returns boolean language sql stable as $$
  select exists (select 1 from jsonb_array_elements(c.overflow) r
                  where (r ->> 'to') = any (a.departments)
                    and greatest(p_now, c.queued_at) >= c.queued_at + make_interval(secs => (r ->> 'after_s')::int))
$$;

-- How well agent `a` matches c's requirement: the sum of a's levels in the
-- skills c requires (higher is better); the pick's first key. Inlined (no
-- FROM): the sum is sb_skills_sum's, PL/pgSQL without a query, as
-- sb_skills_serve's test is sb_skills_cover's.
create or replace function sb_skills_sum(p_skills jsonb, p_required jsonb) returns int language plpgsql immutable as $$
declare
  v_keys jsonb := coalesce(jsonb_path_query_array(p_required, '$.keyvalue().key'), '[]'::jsonb);
  v_sum int := 0;
begin
  for i in 0 .. jsonb_array_length(v_keys) - 1 loop
    v_sum := v_sum + coalesce((p_skills ->> (v_keys ->> i))::int, 0);
  end loop;
  return v_sum;
end
$$;

create or replace function sb_skill_score(a agents, c conversations) returns int language sql stable as $$
  select sb_skills_sum(a.skills, c.required_skills)
$$;

-- Whether agent `a` may serve conversation `c` at p_now, room aside: the
-- one home of eligibility, so the pick, both matches and any future caller
-- agree. The department's (or one overflowed to by now), and the skills
-- required (until relaxed). The CASEs keep the common conversation, with no
-- requirement and no overflow chain, at the department test alone. A
-- sticky wait leaves it to the customer's last agent until it ends. An
-- agent who declined the conversation's offer, or let it expire, is not
-- offered it again while it waits (declined_by is cleared once it is
-- assigned or requeued).
create or replace function sb_agent_serves(a agents, c conversations, p_now timestamptz) returns boolean language sql stable as $$
  select (c.department is null or c.department = any (a.departments)
          or case when c.overflow = '[]'::jsonb then false else sb_overflow_serves(a, c, p_now) end)
     and case when c.required_skills = '{}'::jsonb then true else sb_skills_serve(a, c, p_now) end
     -- sticky wait: until sticky_until only the customer's last agent
     and (c.sticky_until is null or p_now >= c.sticky_until or a.id = c.sticky_agent_id)
     and not (a.id = any (c.declined_by))
$$;

-- Aging (issue #20, item 3): a queued conversation's priority plus what it
-- gained waiting, aging_per_min (its department's rate when it arrived)
-- per minute since queued_at. Ordering by it changes with p_now only
-- through the wait, so two conversations with the same rate keep their
-- order; with different rates (departments) it is computed at p_now.
create or replace function sb_effective_priority(c conversations, p_now timestamptz) returns float8 language sql stable as $$
  select c.priority + c.aging_per_min * greatest(0, extract(epoch from (p_now - coalesce(c.queued_at, c.created_at)))) / 60.0
$$;

-- Whether any queued conversation ages: when none does (aging off, the
-- default) the queue functions read the queue in conversations_queue's
-- order, (priority, seq), as before aging existed. One index probe
-- (conversations_queue_aging): asked in that index's order, which no other
-- index gives. As an EXISTS, the generic plan on a conversations table
-- without statistics (every partial index on the queue costed alike) could
-- take another queue index and filter on the rate, reading every queued
-- conversation at every close and match (issue #22).
create or replace function sb_queue_ages() returns boolean language plpgsql stable as $$
begin
  return (select x.seq from conversations x where x.state = 'queued' and x.aging_per_min > 0 order by x.seq limit 1) is not null;
end
$$;

-- Whether the engine assigns (or offers) conversation c by itself: not in a
-- manual-pick department, whose agents take conversations from the queue
-- (sb_pick). The pick and both matches ask it, so in manual mode no
-- conversation is ever given automatically.
-- Read from the department's row alone, not the whole effective settings:
-- the matches ask it for every queued conversation they walk past, and the
-- default mode (sb_department_routing) is 'auto'.
create or replace function sb_auto_routed(c conversations) returns boolean language plpgsql stable as $$
begin
  return not exists (select 1 from department_routing d where d.department = c.department and d.settings ->> 'mode' = 'manual');
end
$$;

-- Whether any department is in manual mode: read once per call, so the
-- matches ask sb_auto_routed (a call per queued conversation walked, not
-- inlined: it has a subquery) only when one is.
create or replace function sb_any_manual() returns boolean language plpgsql stable as $$
begin
  return exists (select 1 from department_routing d where d.settings ->> 'mode' = 'manual');
end
$$;

-- The policy's pick for conversation c: among agents with room who serve
-- it, the best skill match (sb_skill_score, highest first), then least
-- load, idle longest, then id. Without a requirement every score is 0 and
-- the order is the partial index agents_pick's, so PostgreSQL walks it and
-- stops at the first agent with room who serves the conversation instead
-- of sorting every online agent.
drop function if exists sb_pick_agent(text);
-- enable_sort off: without statistics on agents (a young deployment, or
-- autovacuum off, as on the bench's server) the planner guesses one online
-- agent and sorts them all rather than walk agents_pick; with 1,000 agents
-- that sort is most of an open. Off, it walks the index whatever it
-- guesses; the skills branch, whose order no index has, still sorts.
-- jit off: enable_sort off prices a sort it cannot avoid (the skills
-- branches) at 10^10, above jit_above_cost, and PostgreSQL then compiled
-- the statement at every execution: 0.4 s a pick (bench/open-probe.ts
-- --skills, auto_explain). Here, sb_agent_ahead's and sb_claim_agent's.
create or replace function sb_pick_agent(c conversations, p_now timestamptz) returns uuid language plpgsql stable
set enable_sort = off set jit = off set plan_cache_mode = force_generic_plan as $$
begin
  if c.department is not null and not sb_auto_routed(c) then
    return null;
  end if;
  -- sb_agent_serves is inlined, so the filter is plain expressions
  -- evaluated on the index walk.
  -- Only agents with room are read (migration 0066): those with a capacity
  -- of their own and room (agents_room_own), and those with the setting's
  -- whose load is below it (agents_room_default, bounded by the index
  -- condition), each walked in the pick's order to its first agent who
  -- serves c; the better of the two is the pick. Walking agents_pick with
  -- the room test as a filter read every full agent before the first with
  -- room, and all of them at capacity (1,000 entries for an open that
  -- queued, issue #22). The setting is read once, by an InitPlan.
  if c.required_skills = '{}'::jsonb then
    return (select x.id from (
              (select a.id, a.load, a.last_assigned_at from agents a
                where a.status = 'online' and a.deleted_at is null and a.load < a.capacity
                  and sb_agent_serves(a, c, p_now)
                order by a.load, a.last_assigned_at asc nulls first, a.id
                limit 1)
              union all
              (select a.id, a.load, a.last_assigned_at from agents a
                where a.status = 'online' and a.deleted_at is null and a.capacity is null
                  and a.load < (select sb_default_capacity())
                  and sb_agent_serves(a, c, p_now)
                order by a.load, a.last_assigned_at asc nulls first, a.id
                limit 1)) x
             order by x.load, x.last_assigned_at asc nulls first, x.id
             limit 1);
  end if;
  -- With a requirement the best score comes first, an order no index has,
  -- so the agents with room who serve c are sorted. They are read in the
  -- room indexes' order all the same (the subqueries' ORDER BY): left to
  -- sort, the generic plan without statistics took agents_presence and read
  -- every online agent, full or not.
  return (select x.id from (
            (select a.id, a.load, a.last_assigned_at, a.skills from agents a
              where a.status = 'online' and a.deleted_at is null and a.load < a.capacity
                and sb_agent_serves(a, c, p_now)
              order by a.load, a.last_assigned_at asc nulls first, a.id)
            union all
            (select a.id, a.load, a.last_assigned_at, a.skills from agents a
              where a.status = 'online' and a.deleted_at is null and a.capacity is null
                and a.load < (select sb_default_capacity())
                and sb_agent_serves(a, c, p_now)
              order by a.load, a.last_assigned_at asc nulls first, a.id)) x
           order by (select coalesce(sum(coalesce((x.skills ->> k)::int, 0)), 0)::int from jsonb_object_keys(c.required_skills) k) desc,
                    x.load, x.last_assigned_at asc nulls first, x.id
           limit 1);
end
$$;

-- Whether, for conversation c without a skill requirement, an agent other
-- than `me` who has room and serves c comes before `me` with one slot
-- freed (load - 1) in sb_pick_agent's order: the close's question before it
-- gives its agent's freed slot straight back (sb_close_conversation). No
-- such agent: the pick with the slot freed is `me`, if `me` serves c and
-- has room. Only the agents before `me` are read: the load bound is the
-- walk's index condition on agents_pick, so it reads what sb_pick_agent
-- would read before reaching `me`, not every full agent.
create or replace function sb_agent_ahead(c conversations, p_now timestamptz, me agents) returns boolean language plpgsql stable
set enable_sort = off set jit = off set plan_cache_mode = force_generic_plan as $$
declare
  v_load int := me.load - 1;
begin
  -- in the pick's order, as sb_pick_agent walks it (enable_sort off: the
  -- index walk, whatever the planner guesses without statistics)
  return exists (select 1 from (
                   select a.id from agents a
                    where a.status = 'online' and a.deleted_at is null and a.load <= v_load and a.id <> me.id
                      and sb_has_room(a, (select sb_default_capacity())) and sb_agent_serves(a, c, p_now)
                      -- before `me` in (load, last_assigned_at nulls first, id)
                      and (a.load < v_load
                           or (me.last_assigned_at is not null and (a.last_assigned_at is null or a.last_assigned_at < me.last_assigned_at))
                           or (a.last_assigned_at is not distinct from me.last_assigned_at and a.id < me.id))
                    order by a.load, a.last_assigned_at asc nulls first, a.id
                    limit 1) x);
end
$$;

-- The fast open's pick (sb_open_conversation, the lock shared): the same
-- order as sb_pick_agent, but the agent's row is locked, `for no key update
-- skip locked`, so that opens running side by side each take a different
-- agent instead of all waiting on the least loaded one's row. A row another
-- transaction holds is passed over (a concurrent open or close on that
-- agent, or a heartbeat writing last_seen_at): the order is then the
-- policy's among the agents free to lock, and null when none is, which
-- sends the open to the exclusive path. Room is checked again on the
-- locked row: the walk read the loads of its snapshot, and a close or an
-- open may have committed since. `no key update`, the mode the load's
-- update takes anyway, not `update`: rows that merely reference the agent
-- (a read receipt, a login's token: `for key share` by their foreign keys)
-- do not make the agent's row look taken. Volatile (it locks), so it
-- cannot be sb_pick_agent, which the matches call from stable functions.
create or replace function sb_claim_agent(c conversations, p_now timestamptz) returns uuid language plpgsql
set enable_sort = off set jit = off set plan_cache_mode = force_generic_plan as $$
declare
  v_agent uuid;
  v_room boolean;
begin
  if c.required_skills = '{}'::jsonb then
    select a.id into v_agent from agents a
     where a.status = 'online' and a.deleted_at is null and sb_has_room(a, (select sb_default_capacity()))
       and sb_agent_serves(a, c, p_now)
     order by a.load, a.last_assigned_at asc nulls first, a.id
     limit 1
       for no key update skip locked;
  else
    select a.id into v_agent from agents a
     where a.status = 'online' and a.deleted_at is null and sb_has_room(a, (select sb_default_capacity()))
       and sb_agent_serves(a, c, p_now)
     order by sb_skill_score(a, c) desc, a.load, a.last_assigned_at asc nulls first, a.id
     limit 1
       for no key update skip locked;
  end if;
  if v_agent is null then
    return null;
  end if;
  -- The row as it is now that it is ours (a later statement: a new
  -- snapshot), read by its key alone, the tests in the select list: with
  -- them in the WHERE, a generic plan on a table without statistics (a
  -- young deployment, the bench's server) read agents_presence's every
  -- online agent instead (999 rows filtered, ~40 buffers: a third of an
  -- assigned open's time in PostgreSQL, issue #22).
  select a.status = 'online' and a.deleted_at is null and sb_has_room(a, (select sb_default_capacity()))
    into v_room
    from agents a where a.id = v_agent;
  if v_room is not true then
    return null;
  end if;
  return v_agent;
end
$$;

-- A first form of the row-taking sb_assign, without p_load, never reached
-- main; dropped so that a database migrated with it keeps no stray overload.
drop function if exists sb_assign(timestamptz, conversations, uuid);
-- Gives queued conversation c to p_agent: the agent's load and the
-- conversation in one step. In an offer-mode department the conversation
-- is offered instead: held for the agent (the slot counts from now) until
-- they accept (sb_accept_offer) or the offer runs out (sb_expire_offers);
-- assigned_at is then the accept's time.
-- It takes the row, not its id: every caller has just read it under the
-- routing lock (the queue head, the new row, the picked one), and reading
-- it again for its department was a statement under the lock exclusive
-- (issue #22, item 3). The agent's load and the conversation are one
-- statement (a data-modifying WITH runs whether or not it is referenced).
-- p_load: what the agent's load grows by, 1 but for a close that gives the
-- agent's freed slot straight back (0: sb_close_conversation).
-- The order of the two row writes within the statement is PostgreSQL's:
-- under the lock exclusive no routing transaction holds either row, and
-- the writers that may (a message on the conversation's, a heartbeat on
-- the agent's) wait for nothing else while they do.
create or replace function sb_assign(p_now timestamptz, c conversations, p_agent uuid, p_load int) returns conversations language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  routing jsonb;
begin
  -- No department, no settings: the defaults' mode is 'auto' (skips a probe per give)
  if c.department is not null then
    routing := sb_department_routing(c.department);
  end if;
  if routing ->> 'mode' = 'offer' then
    with loaded as (update agents set load = load + p_load, last_assigned_at = p_now, updated_at = p_now where id = p_agent)
    update conversations
       set state = 'offered', agent_id = p_agent, updated_at = p_now,
           offer_expires_at = p_now + make_interval(secs => (routing ->> 'offer_timeout_s')::double precision)
     where id = c.id
    returning * into c;
  else
    with loaded as (update agents set load = load + p_load, last_assigned_at = p_now, updated_at = p_now where id = p_agent)
    update conversations
       set state = 'assigned', agent_id = p_agent, assigned_at = p_now, updated_at = p_now, offer_expires_at = null, declined_by = '{}'
     where id = c.id
    returning * into c;
  end if;
  return c;
end
$$;
-- By id, for a caller without the row in hand.
create or replace function sb_assign(p_now timestamptz, p_conversation uuid, p_agent uuid) returns conversations language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  c conversations;
begin
  select * into c from conversations x where x.id = p_conversation;
  return sb_assign(p_now, c, p_agent, 1);
end
$$;

-- The event telling that sb_assign gave conversation c: conversation.offered
-- or conversation.assigned, as it came out. p_json: c as sb_conversation_json
-- gives it, for a caller that has built it already (an open's two events).
create or replace function sb_given_event(c conversations, p_json jsonb) returns jsonb language sql stable as $$
  select sb_event(case when c.state = 'offered' then 'conversation.offered' else 'conversation.assigned' end,
                  c.id, c.agent_id, jsonb_build_object('conversation', p_json))
$$;
create or replace function sb_given_event(c conversations) returns jsonb language sql stable as $$
  select sb_given_event(c, sb_conversation_json(c))
$$;

-- Whether any online agent has room: the first entry of each of the room
-- indexes (migration 0066), in their order. Walking agents_pick with the
-- room test as a filter read every online agent when all were full — at
-- capacity, which is when a match or a sweep asks (1,000 entries at 1,000
-- agents).
create or replace function sb_anyone_with_room() returns boolean language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
begin
  return (select a.id from agents a
           where a.status = 'online' and a.deleted_at is null and a.load < a.capacity
           order by a.load, a.last_assigned_at asc nulls first, a.id
           limit 1) is not null
      or (select a.id from agents a
           where a.status = 'online' and a.deleted_at is null and a.capacity is null
             and a.load < (select sb_default_capacity())
           order by a.load, a.last_assigned_at asc nulls first, a.id
           limit 1) is not null;
end
$$;

-- Full drain step: the first queued conversation (priority, then arrival)
-- that some online agent with room can serve, given to the policy's pick.
-- No row when nothing can be matched. Used by the sweep and after changes
-- that can free many slots at once.
-- The walk asks, for each queued conversation, whether any agent with room
-- serves it: a test over every such agent. Conversations nobody with room
-- can take (a department whose agents are all busy or away, while others
-- idle) are walked past at every sweep, under the routing lock: 10,000 of
-- them with 1,000 idle agents made a sweep take 10 s (issue #22). So the
-- departments those agents serve are gathered once, and a conversation of
-- another department, with no overflow chain, is passed over on that alone:
-- sb_agent_serves could not hold for it, so what is matched is unchanged.
create or replace function sb_match_next(p_now timestamptz) returns setof conversations language plpgsql
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  head conversations;
  v_manual boolean;
begin
  perform pg_advisory_xact_lock(7301001);
  -- No online agent with room (a sweep or a drain at capacity): nothing can
  -- be matched, and the query below, whose set-up is most of its cost when
  -- its agents are all full, is not run. The probe reads the first entry
  -- of each room index, whether anyone has room or not.
  if not sb_anyone_with_room() then
    return;
  end if;
  -- read under the lock, so from what the previous holder committed
  v_manual := sb_any_manual();
  if sb_queue_ages() then
    with free as materialized (
      select a as agent from agents a
       where a.status = 'online' and a.deleted_at is null and sb_has_room(a, (select sb_default_capacity()))
    ), served as materialized (
      select coalesce(array_agg(distinct d), '{}') as departments from free f, unnest((f.agent).departments) d
    )
    select c.* into head
      from conversations c
     where c.state = 'queued'
       and exists (select 1 from free)
       and (c.department is null or c.department = any ((select s.departments from served s)::text[]) or c.overflow <> '[]'::jsonb)
       and (not v_manual or c.department is null or sb_auto_routed(c))
       and exists (select 1 from free f where sb_agent_serves(f.agent, c, p_now))
     order by sb_effective_priority(c, p_now) desc, c.seq
     limit 1;
  else
    -- The head of each part of the queue an agent with room could serve,
    -- each a walk of an index in queue order stopping at its first match:
    -- each served department's (conversations_queue_by_department), the
    -- conversations without department (the same index) and those with an
    -- overflow chain (conversations_queue_overflow, migration 0040); the
    -- first of these heads is the queue's first match. A filter on the
    -- whole queue's order walked every queued conversation of the other
    -- departments ahead of it, under the routing lock.
    with free as materialized (
      select a as agent from agents a
       where a.status = 'online' and a.deleted_at is null and sb_has_room(a, (select sb_default_capacity()))
    ), served as materialized (
      select distinct d as department from free f, unnest((f.agent).departments) d
    )
    select h.* into head
      from (select x.*
              from served s
             cross join lateral (
                   select c.* from conversations c
                    where c.state = 'queued' and c.department = s.department
                      and (not v_manual or sb_auto_routed(c))
                      and exists (select 1 from free f where sb_agent_serves(f.agent, c, p_now))
                    order by c.priority desc, c.seq
                    limit 1) x
            union all
            -- ordered by the department too (null for all), so the planner
            -- takes the index's first entry instead of sorting the whole
            -- department-less queue (see sb_match_for_agent)
            (select c.* from conversations c
              where c.state = 'queued' and c.department is null
                and exists (select 1 from free)
                and exists (select 1 from free f where sb_agent_serves(f.agent, c, p_now))
              order by c.department, c.priority desc, c.seq
              limit 1)
            union all
            (select c.* from conversations c
              where c.state = 'queued' and c.overflow <> '[]'::jsonb
                and exists (select 1 from free)
                and (not v_manual or c.department is null or sb_auto_routed(c))
                and exists (select 1 from free f where sb_agent_serves(f.agent, c, p_now))
              order by c.priority desc, c.seq
              limit 1)) h
     order by h.priority desc, h.seq
     limit 1;
  end if;
  if not found then
    return;
  end if;
  return next sb_assign(p_now, head, sb_pick_agent(head, p_now), 1);
end
$$;

-- The first queued conversation agent `me` can serve, in queue order (the
-- null row when none): sb_match_for_agent's step, and the close's, which
-- asks it before it writes the agent's freed slot (sb_close_conversation).
-- p_manual: sb_any_manual(); p_ages: sb_queue_ages(), read by the caller
-- under the lock.
create or replace function sb_head_for_agent(p_now timestamptz, me agents, p_manual boolean, p_ages boolean)
returns conversations language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
begin
  -- the query is the five-argument form's (at the end of this file), which
  -- a shared close also asks with the heads it could not lock left out
  return sb_head_for_agent(p_now, me, p_manual, p_ages, '{}'::uuid[]);
end
$$;

-- An agent who just gained room: the first queued conversation they can
-- serve, in queue order, given to the policy's pick. By the work-conserving
-- invariant no other agent with room could serve it, so the pick is this
-- agent. But eligibility grows with time (skills relaxed, overflow): a
-- conversation may have become eligible for another agent with room since
-- the last sweep, and the pick may be that agent. Then the next one this
-- agent can serve is tried, so the agent's room is never left unused: one
-- row per assignment, this agent's last.
create or replace function sb_match_for_agent(p_now timestamptz, p_agent uuid) returns setof conversations language plpgsql
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  me agents;
  head conversations;
  v_pick uuid;
  v_manual boolean;
  v_ages boolean;
begin
  perform pg_advisory_xact_lock(7301001);
  -- read under the lock, so from what the previous holder committed
  v_manual := sb_any_manual();
  -- asked once: assigning can only end aging (the last aging conversation
  -- taken), and without it both orders are the same (priority, seq)
  v_ages := sb_queue_ages();
  -- By the key alone, the tests after it: with them in the WHERE, the
  -- generic plan on an agents table without statistics walked
  -- agents_presence over every online agent, calling sb_default_capacity()
  -- for each (900 rows filtered; issue #22, as sb_claim_agent's second look).
  select * into me from agents a where a.id = p_agent;
  if not found or (me.status = 'online' and me.deleted_at is null and me.load < sb_capacity(me)) is not true then
    return;
  end if;
  loop
    head := sb_head_for_agent(p_now, me, v_manual, v_ages);
    if head.id is null then
      return;
    end if;
    v_pick := sb_pick_agent(head, p_now);
    return next sb_assign(p_now, head, v_pick, 1);
    exit when v_pick = me.id;
  end loop;
end
$$;

-- sb_agent_has_match, the fast close's test before it ran exclusive to
-- match, is gone: the close now reads the head once, on its agent's locked
-- row, and gives it the slot itself (sb_take_head).
drop function if exists sb_agent_has_match(timestamptz, agents);

-- The customer's sticky agent (docs/routing.md#sticky-agent): the agent of
-- their most recent conversation in p_department closed within p_window_s,
-- if still an agent; no row when there is none. Only between verified
-- conversations, as a customer's history is (docs/identity-verification.md):
-- the caller asks only for a verified open.
create or replace function sb_sticky_agent(p_customer_id text, p_department text, p_now timestamptz, p_window_s float8)
returns setof agents language sql stable as $$
  select a.*
    from agents a
   where a.deleted_at is null
     and a.id = (select x.agent_id from conversations x
                  where x.customer_id = p_customer_id and x.customer_verified and x.state in ('resolved', 'abandoned')
                    and x.department is not distinct from p_department and x.agent_id is not null
                    and x.resolved_at >= p_now - make_interval(secs => p_window_s)
                  order by x.resolved_at desc
                  limit 1)
$$;

-- ---- Open and close without the exclusive routing lock (#22, item 3) -----
-- Every routing change took the routing lock (7301001) exclusive, which
-- capped routing at one over its hold (~0.8 ms: ~1,300 changes/s) whatever
-- the cores. The race it exists for, the lost wake-up, is only between a
-- change that QUEUES a conversation (an open that finds nobody with room)
-- and one that FREES a slot or makes an agent available. Everything that
-- queues keeps the lock exclusive, so while a transaction holds it SHARED
-- the queue gains no member, and loads change only through row-locked
-- updates of agents. Two common changes then run side by side under the
-- lock shared, each in a subtransaction (a block with an exception clause):
--
--   * fast open: the conversation is inserted and an agent with room is
--     locked (sb_claim_agent, skip locked) and given it. By the
--     work-conserving invariant an agent with room has no queued
--     conversation they could serve (still true: the queue cannot grow, and
--     a fast close frees a slot only when its agent has nothing queued to
--     serve), so it overtakes nobody. Capacity rests on the agent's row
--     lock and the re-check of room on the locked row.
--   * fast close: its agent's row is locked, then the conversation's; when
--     its agent has nothing queued they could serve, the slot is freed and
--     the conversation closed, else the head takes the slot (sb_take_head,
--     "Queueing and matching under the lock shared" at the end of this
--     file). "Once" rests on the conversation's row lock, as before.
--
-- When the fast path cannot finish — nobody with room free to lock, a
-- duplicate external_ref inserted alongside, a queued conversation for the
-- freed agent — it raises sb_exclusive_path, its subtransaction rolls back
-- (the shared lock with it: a transaction-level advisory lock taken in a
-- subtransaction is released when that rolls back, on PostgreSQL 15 and
-- PGlite alike; test/integration/concurrency-shared-routing.test.ts), and
-- the change runs as before under the lock exclusive, which waits for the
-- shared holders to commit: queueing and matching are decided on committed
-- state. Manual-pick departments and a verified customer with a sticky
-- agent go there at once, and so does an open while a queued conversation's
-- sticky wait has ended (that one is anyone's and is served first, as on the
-- exclusive path: migration 0036). An open makes a cheap guess first,
-- without locks: in a department whose queue is not empty it skips the
-- claim's walk and queues under row locks ("Queueing and matching under the
-- lock shared"). A guess only; the paths decide. A close makes none: at
-- capacity it gives its slot to the head under the lock shared too. A caller that already holds the lock exclusive
-- (a TS routing transaction) runs the fast path inside it: its own locks
-- never conflict.
--
-- Order: concurrent fast opens may get the two least-loaded agents in
-- either order, or the next ones when a row is held (skip locked); one at a
-- time, the policy's order holds exactly (docs/architecture.md).
--
-- Why nothing deadlocks. The lock is always the first lock taken, and the
-- shared holder never asks for it exclusive: the fast path calls nothing
-- that takes it (sb_match_for_agent and the rest are left to the exclusive
-- path, after the rollback released the shared lock), since two sessions
-- upgrading from shared would wait on each other. Row waits under the
-- shared lock:
--   fast open:  none on agents (skip locked; its one agent row is then its
--               own); its new conversation row is its own. Only the unique
--               index on open external_refs can wait, on another open that
--               inserted the same ref, which itself waits for nothing more
--               (or on a Qiscus room insert, which takes no lock).
--   fast close: its agent's row first, holding no row (held by an open
--               that locked it, another close of the same agent, or a
--               heartbeat), then the conversation's row (held by another
--               close of it, or a message, rating or receipt writer: none
--               of them waits on an agent row or on the routing lock while
--               holding it), then its head, skip locked.
-- So every wait goes agent row → conversation row → commit, never back
-- (the lock order at the top of this file): no cycle. An exclusive waiter
-- waits for the shared holders, who never wait for it (a shared request
-- queued behind it holds nothing yet).
create or replace function sb_exclusive_path() returns void language plpgsql as $$
begin
  -- the SQLSTATE the fast paths raise to roll their subtransaction back
  raise sqlstate 'SB001' using message = 'routing change needs the exclusive routing lock';
end
$$;

-- Opens a conversation: assigned at once when an agent has room for it
-- (by the invariant such an agent has no queued conversation they could
-- serve, so this overtakes nobody), else queued. Time alone breaks the
-- invariant when a sticky wait ends: its conversation is anyone's from
-- sticky_until, and the sweep gives it away up to an interval later. An open
-- in between would give the agent with room the newcomer instead, overtaking
-- a conversation whose turn came before the newcomer arrived
-- (docs/routing.md#sticky-agent). So such conversations are matched first,
-- as the sweep's drain would (conversations_sticky_waits, migration 0036,
-- makes the test a probe); the drain ends the same way the sweep's does.
-- (Overflow and skills relaxation grow eligibility with time too; they are
-- left to the sweep here, as before.) A channel re-sending the
-- same open (p_external_ref already open on p_channel) gets that
-- conversation back, created = false, and nothing changes.
-- Fast path first (the routing lock shared, above), unless the department
-- is manual or the customer has a sticky agent; it queues under the lock
-- shared only with every agent who could serve it locked and full, and
-- no more than sb_queue_lock_limit() of them (sb_lock_full_agents, at the
-- end of this file), else exclusive.
-- The fast path asks the claim about the conversation as it arrives, in
-- memory (sb_arriving), and inserts the row once, already given: inserting
-- it queued and then updating it wrote two row versions, each with a round
-- of inserts into every index on conversations, and a failed attempt
-- inserted a row only to roll it back. The exclusive path, which most
-- often queues (at capacity), inserts first as before: working the terms
-- out in memory as well as in the insert's trigger cost it more than the
-- rare update it would save (bench/lock-hold.ts at capacity).
-- Events: conversation.created (as it arrived: queued, no agent), then
-- conversation.assigned (or .offered) or conversation.queued (reason 'new').
drop function if exists sb_open_conversation(text, text, text, jsonb, text, int, timestamptz, boolean);
create or replace function sb_open_conversation(
  p_channel text, p_external_ref text, p_customer_id text, p_customer jsonb, p_department text,
  p_priority int, p_now timestamptz, p_verified boolean, p_required_skills jsonb
) returns table (opened conversations, created boolean, logged jsonb) language plpgsql
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  c conversations;
  v_agent uuid;
  v_offer boolean;
  json jsonb;
  arrived jsonb;
  v_settings jsonb := sb_department_routing(p_department);
  v_sticky boolean := (v_settings ->> 'sticky_window_s')::float8 > 0 and p_verified;
  v_last agents;
  v_drained jsonb := '[]'::jsonb;
  v_queue boolean;
  v_queued boolean;
  v_ended boolean;
begin
  -- As sb_assign gives a conversation: offered in an offer-mode department
  -- (no department: the defaults, auto), else assigned.
  v_offer := p_department is not null and v_settings ->> 'mode' = 'offer';
  -- With this department's queue non-empty (as last committed, read without
  -- locks) the agents who serve it are most likely full: the claim's walk
  -- is skipped and the open goes straight to queueing under row locks
  -- (sb_lock_full_agents, "Queueing and matching under the lock shared" at
  -- the end of this file). Only a guess, the paths decide for themselves;
  -- an index probe (conversations_queue_by_department, migration 0037),
  -- where asking whether anyone has room walks every online agent. Asked
  -- by the first attempt, in one statement with the probe for ended sticky
  -- waits below: one executor start for both.
  if v_settings ->> 'mode' <> 'manual' then
    loop
    begin
      perform pg_advisory_xact_lock_shared(7301001);
      -- Two ifs, not `v_sticky and exists (…)`: that is one query, whose
      -- executor start opened and locked the tables and indexes of the
      -- probe (and set up its scans) at every open, sticky or not.
      if v_sticky then
        if exists (select 1 from sb_sticky_agent(p_customer_id, p_department, p_now, (v_settings ->> 'sticky_window_s')::float8)) then
          perform sb_exclusive_path();
        end if;
      end if;
      -- A queued conversation whose sticky wait has ended is anyone's and
      -- comes before the newcomer (see above): the exclusive path serves it
      -- first. Sticky waits are only created under the lock exclusive, so
      -- none ends unseen while this holds it shared but by time, and p_now
      -- is fixed for the call. A probe (conversations_sticky_waits).
      -- Each probe asks in its index's order, `order by … limit 1`, which
      -- only that index gives: as EXISTS, the generic plan on a table
      -- without statistics (every index whose predicate `state = 'queued'`
      -- implies costed alike) walked conversations_queued_since and filtered,
      -- reading every queued conversation of every department, twice, at
      -- every open (test/integration/conversation-indexes.test.ts).
      select case when p_department is null
                  then (select x.seq from conversations x where x.state = 'queued' and x.department is null
                         order by x.department, x.priority desc, x.seq limit 1) is not null
                  else (select x.seq from conversations x where x.state = 'queued' and x.department = p_department
                         order by x.department, x.priority desc, x.seq limit 1) is not null
             end,
             (select x.sticky_until from conversations x where x.state = 'queued' and x.sticky_until is not null and x.sticky_until <= p_now
               order by x.sticky_until limit 1) is not null
        into v_queued, v_ended;
      if v_ended then
        perform sb_exclusive_path();
      end if;
      -- the first attempt's guess; a retry (SB003) has set it true
      v_queue := coalesce(v_queue, v_queued);
      if p_external_ref is not null then
        select * into c from conversations x
         where x.channel = p_channel and x.external_ref = p_external_ref and x.state in ('queued', 'offered', 'assigned');
        if found then
          return query select c, false, '[]'::jsonb;
          return;
        end if;
      end if;
      c := sb_arriving(p_channel, p_external_ref, p_customer_id, p_customer, p_department, p_priority, p_now, p_verified,
                       p_required_skills, v_settings);
      if not v_queue then
        v_agent := sb_claim_agent(c, p_now);
      end if;
      if v_agent is null then
        -- Nobody with room free to lock. Queued here, under the lock shared,
        -- only when every agent who could serve it is locked (for share,
        -- until commit) and full, and they are at most sb_queue_lock_limit()
        -- (beyond it the locks cost more than the exclusive path's index
        -- walk); else, or when it ages (aging keeps the queue's order to the
        -- lock exclusive), the exclusive path decides.
        -- Never right after a claim: a claim that found nobody may still
        -- hold the row of an agent it locked and then found full (filled
        -- since its snapshot: a lock taken before the re-check outlives it),
        -- out of the id order in which sb_lock_full_agents locks, and two
        -- such opens each waiting for the other's row deadlocked
        -- (bench/lock-hold.ts at capacity, 16 clients). SB003 rolls the
        -- attempt back, which releases that row, and tries once more
        -- without the claim.
        if not v_queue then
          raise sqlstate 'SB003' using message = 'queue without the claim''s row locks';
        end if;
        if c.aging_per_min > 0 or not sb_lock_full_agents(c, p_now) then
          perform sb_exclusive_path();
        end if;
        -- with the terms sb_arriving worked out (as the given insert below), so
        -- the insert trigger does not work them out again: they cannot have
        -- changed, since changing them takes the lock exclusive
        insert into conversations (channel, external_ref, customer_id, customer, department, priority, state, agent_id,
                                   created_at, queued_at, assigned_at, updated_at, customer_verified, requested_skills,
                                   aging_per_min, sla_due_at, required_skills, skills_relax_after_s, overflow)
        values (p_channel, p_external_ref, p_customer_id, p_customer, p_department, p_priority,
                'queued', null, p_now, p_now, null, p_now, p_verified, coalesce(p_required_skills, '{}'::jsonb),
                c.aging_per_min, c.sla_due_at, c.required_skills, c.skills_relax_after_s, c.overflow)
        returning * into c;
        json := sb_conversation_json(c);
        return query select c, true, sb_log_events(p_now, jsonb_build_array(
          sb_event('conversation.created', c.id, null, jsonb_build_object('conversation', json)),
          sb_event('conversation.queued', c.id, null, jsonb_build_object('conversation', json, 'reason', 'new'))));
        return;
      end if;
      -- Given to the claimed agent as sb_assign gives one: the agent's load
      -- and the conversation in one statement (a data-modifying WITH runs
      -- whether or not it is referenced); offered in an offer-mode
      -- department. The agent's row is the claim's already. The row brings
      -- its terms as sb_arriving laid them on, so the insert trigger
      -- (conversations_terms) does not work them out again: nothing they
      -- read can change meanwhile (a change of a department's, channel's or
      -- label's terms takes the routing lock exclusive, this holds it
      -- shared), and they are the terms the claim judged the conversation by.
      -- Here, not in a function of its own (sb_insert_arrived, dropped
      -- below): that call, with its SET clause applied and undone, was a
      -- PL/pgSQL call more at every assigned open.
      with loaded as (update agents set load = load + 1, last_assigned_at = p_now, updated_at = p_now where id = v_agent)
      insert into conversations (channel, external_ref, customer_id, customer, department, priority, state, agent_id,
                                 created_at, queued_at, assigned_at, updated_at, customer_verified, requested_skills,
                                 aging_per_min, sla_due_at, offer_expires_at, required_skills, skills_relax_after_s, overflow)
      values (c.channel, c.external_ref, c.customer_id, c.customer, c.department, c.priority,
              case when v_offer then 'offered' else 'assigned' end, v_agent,
              c.created_at, c.queued_at, case when not v_offer then p_now end, c.updated_at, c.customer_verified,
              c.requested_skills, c.aging_per_min, c.sla_due_at,
              case when v_offer then p_now + make_interval(secs => (v_settings ->> 'offer_timeout_s')::double precision) end,
              c.required_skills, c.skills_relax_after_s, c.overflow)
      returning * into c;
      json := sb_conversation_json(c);
      arrived := json || jsonb_build_object('state', 'queued', 'agent_id', null, 'assigned_at', null, 'offer_expires_at', null);
      return query select c, true, sb_log_events(p_now, jsonb_build_array(
        sb_event('conversation.created', c.id, null, jsonb_build_object('conversation', arrived)),
        sb_given_event(c, json)));
      return;
    exception
      when sqlstate 'SB003' then
        v_queue := true;
        continue;
      -- unique_violation: an open with the same external_ref committed
      -- meanwhile; the exclusive path returns it
      when sqlstate 'SB001' or unique_violation then
        null;
    end;
    exit;
    end loop;
  end if;
  -- (a rolled-back block keeps its variables' values, not its writes)
  v_agent := null;
  perform pg_advisory_xact_lock(7301001);
  if p_external_ref is not null then
    select * into c from conversations x
     where x.channel = p_channel and x.external_ref = p_external_ref and x.state in ('queued', 'offered', 'assigned');
    if found then
      return query select c, false, '[]'::jsonb;
      return;
    end if;
  end if;
  -- in conversations_sticky_waits' order, as above
  if (select x.sticky_until from conversations x where x.state = 'queued' and x.sticky_until is not null and x.sticky_until <= p_now
       order by x.sticky_until limit 1) is not null then
    v_drained := sb_drain_events(p_now);
  end if;
  -- Inserted as it arrived (queued), then given to the policy's pick: the
  -- pick sees the conversation as every other caller of it does. Here,
  -- unlike the fast path, the open most often queues (this is the path at
  -- capacity): one insert either way, and the terms are laid on once, by
  -- the trigger conversations_terms.
  insert into conversations (channel, external_ref, customer_id, customer, department, priority, state, agent_id,
                             created_at, queued_at, assigned_at, updated_at, customer_verified, requested_skills,
                             aging_per_min, sla_due_at)
  values (p_channel, p_external_ref, p_customer_id, p_customer, p_department, p_priority,
          'queued', null, p_now, p_now, null, p_now, p_verified, coalesce(p_required_skills, '{}'::jsonb),
          coalesce((v_settings ->> 'aging_per_min')::float8, 0),
          p_now + make_interval(secs => (v_settings ->> 'sla_first_response_s')::float8))
  returning * into c;
  -- Sticky agent: the agent of this customer's most recent conversation in
  -- this department closed within sticky_window_s, if still an agent.
  if v_sticky then
    select * into v_last from sb_sticky_agent(p_customer_id, p_department, p_now, (v_settings ->> 'sticky_window_s')::float8);
    if found and sb_agent_serves(v_last, c, p_now) and sb_auto_routed(c) then
      if v_last.status = 'online' and v_last.load < sb_capacity(v_last) then
        v_agent := v_last.id;
      elsif (v_settings ->> 'sticky_wait_s')::float8 > 0 and v_last.status in ('online', 'away') then
        -- Busy or away: the conversation waits for them, at its place in
        -- the queue, until sticky_until (sb_agent_serves).
        update conversations x
           set sticky_agent_id = v_last.id,
               sticky_until = p_now + make_interval(secs => (v_settings ->> 'sticky_wait_s')::float8)
         where x.id = c.id
        returning * into c;
      end if;
    end if;
  end if;
  if v_agent is null then
    v_agent := sb_pick_agent(c, p_now);
  end if;
  if v_agent is not null then
    c := sb_assign(p_now, c, v_agent, 1);
  end if;
  json := sb_conversation_json(c);
  -- queued, it is still as it arrived
  arrived := case when v_agent is null then json
                  else json || jsonb_build_object('state', 'queued', 'agent_id', null, 'assigned_at', null, 'offer_expires_at', null) end;
  return query select c, true, sb_log_events(p_now, v_drained || jsonb_build_array(
    sb_event('conversation.created', c.id, null, jsonb_build_object('conversation', arrived)),
    case when v_agent is null
      then sb_event('conversation.queued', c.id, null, jsonb_build_object('conversation', json, 'reason', 'new'))
      else sb_given_event(c, json)
    end));
end
$$;

-- A conversation as it arrives, not yet inserted: queued, no agent, its
-- department's terms laid on (sb_with_terms, as the insert's trigger would;
-- the fast open inserts them as they are), the columns the pick and the claim read set as the insert sets
-- them (the rest of the row is null until the insert: id, seq).
create or replace function sb_arriving(
  p_channel text, p_external_ref text, p_customer_id text, p_customer jsonb, p_department text,
  p_priority int, p_now timestamptz, p_verified boolean, p_required_skills jsonb, p_settings jsonb
) returns conversations language plpgsql stable as $$
declare
  c conversations;
begin
  c.channel := p_channel;
  c.external_ref := p_external_ref;
  c.customer_id := p_customer_id;
  c.customer := p_customer;
  c.department := p_department;
  c.priority := p_priority;
  c.state := 'queued';
  c.created_at := p_now;
  c.queued_at := p_now;
  c.updated_at := p_now;
  c.customer_verified := p_verified;
  c.labels := '{}';
  c.requested_skills := coalesce(p_required_skills, '{}'::jsonb);
  c.declined_by := '{}';
  c.aging_per_min := coalesce((p_settings ->> 'aging_per_min')::float8, 0);
  c.sla_due_at := p_now + make_interval(secs => (p_settings ->> 'sla_first_response_s')::float8);
  return sb_with_terms(c);
end
$$;

-- The fast open's insert of its given conversation until migration 0054's
-- session; now in sb_open_conversation itself.
drop function if exists sb_insert_arrived(conversations, uuid, boolean, jsonb, timestamptz);

-- Closes (p_state 'resolved' or 'abandoned') an open conversation and gives
-- the freed slot to the queue: the agent's next conversation, in the same
-- call. p_only_agent: the agent who may close only their own conversations,
-- or null. A refused close writes nothing and returns closed = null with the
-- row as it was (before_state, before_agent_id), so the caller can say why;
-- no row at all when there is no such conversation.
-- An offered conversation closes like an assigned one: its slot is released.
-- But an offer not accepted was never held: the closed row has agent_id null
-- (reports and CSAT credit no agent, the offered agent gains no read of it
-- as its last holder), while the close's event keeps the offered agent in
-- its agent_id column, so they hear the offer is gone. And p_only_agent may
-- not close an offer at all (refused like another's conversation; the
-- caller says SB_NOT_ACCEPTED): they could not reply to it, and an agent
-- closing chats they never took would otherwise end them unseen.
-- Fast path first (the routing lock shared, above): the freed slot written,
-- when the freed agent has nothing queued to take, or given straight to
-- the queue's head for them (sb_take_head, at the end of this file); else
-- the exclusive path, which matches.
-- Events: conversation.<p_state> (by p_by), then conversation.assigned (or
-- .offered) for the conversation the freed agent takes, if any.
create or replace function sb_close_conversation(
  p_id uuid, p_state text, p_now timestamptz, p_reason text, p_note text, p_only_agent uuid, p_by text
) returns table (closed conversations, before_state text, before_agent_id uuid, logged jsonb) language plpgsql
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  was conversations;
  c conversations;
  me agents;
  v_agent uuid;
  next_one conversations;
  v_events jsonb;
  v_due boolean;
begin
  -- Every close tries the lock shared, a queued conversation's too: at
  -- capacity the opens and closes around it hold it shared as well, and
  -- closing a queued one changes no load (its row lock settles it against
  -- a close that would take it as its head).
  begin
    perform pg_advisory_xact_lock_shared(7301001);
    -- The agent's row before the conversation's (the lock order at the top
    -- of this file): a close that held its conversation while it waited for
    -- its agent's row (held for share by a queueing open) was waited for by
    -- another close whose head lock followed that conversation's update
    -- chain, and that close's agent row was what the open waited for — a
    -- deadlock (bench/RESULTS.md). So the agent is read as last committed,
    -- without a lock, its row locked, and only then the conversation's.
    -- The agent's row waits for every queueing open that holds it shared
    -- (sb_lock_full_agents), and the queue is read after it, by a later
    -- statement with a snapshot of its own, so it sees what those opens
    -- queued. Status, departments and skills change only under the lock
    -- exclusive; the load only under this row lock. One statement: the
    -- conversation's agent_id is read by the subquery (an InitPlan, run
    -- once before the agent's row is locked), no lock on the conversation.
    select * into me from agents a
     where a.id = (select x.agent_id from conversations x where x.id = p_id)
       for no key update;
    v_agent := me.id;
    select * into was from conversations x where x.id = p_id for update;
    if not found then
      return;
    end if;
    if was.state not in ('queued', 'offered', 'assigned') or (p_only_agent is not null and (was.agent_id is distinct from p_only_agent or was.state = 'offered')) then
      return query select null::conversations, was.state, was.agent_id, '[]'::jsonb;
      return;
    end if;
    if was.agent_id is distinct from v_agent then
      -- Given, transferred or requeued between the read and the lock: its
      -- agent's row would now be locked after its conversation's, against
      -- the order. Rare (a change to this very conversation within
      -- microseconds): the exclusive path, which excludes every holder a
      -- wait could cycle through, rather than a loop of reads and locks.
      perform sb_exclusive_path();
    end if;
    next_one := null;
    if was.agent_id is not null and me.status = 'online' and me.deleted_at is null and me.load - 1 < sb_capacity(me) then
      -- Nothing queued at all, as most closes below capacity find: no head
      -- to ask for, and sb_take_head (a call, with a SET clause applied and
      -- undone) is not made. A later statement than the agent's row lock,
      -- as the head's query is, so it sees what every queueing open that
      -- held that row queued (above).
      if exists (select 1 from conversations x where x.state = 'queued') then
        -- the queue's head for the agent, locked, when the policy gives it
        -- to them with the slot freed; null when nothing queued is theirs
        next_one := sb_take_head(p_now, me);
      end if;
    end if;
    -- Asked once, for the event and the update; the breach's event built
    -- (sb_close_sla_breach, a PL/pgSQL call) only when it is due.
    v_due := sb_sla_due(was, p_now);
    v_events := case when v_due then sb_close_sla_breach(was, p_now) else '[]'::jsonb end;
    if next_one.id is not null then
      -- the freed slot straight to the head: the agent's load unchanged
      update conversations x
         set state = p_state, resolved_at = p_now, resolve_reason = p_reason, note = coalesce(p_note, x.note), updated_at = p_now,
             offer_expires_at = null, agent_id = case when was.state = 'offered' then null else x.agent_id end,
             sla_breached_at = case when v_due then p_now else x.sla_breached_at end
       where x.id = p_id
      returning * into c;
      next_one := sb_assign(p_now, next_one, me.id, 0);
      v_events := v_events || jsonb_build_array(sb_event('conversation.' || p_state, p_id, was.agent_id,
                                           jsonb_build_object('conversation', sb_conversation_json(c), 'by', p_by)),
                                                sb_given_event(next_one));
      return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
      return;
    end if;
    with freed as (update agents set load = load - 1, updated_at = p_now where id = was.agent_id)
    update conversations x
       set state = p_state, resolved_at = p_now, resolve_reason = p_reason, note = coalesce(p_note, x.note), updated_at = p_now,
           offer_expires_at = null, agent_id = case when was.state = 'offered' then null else x.agent_id end,
           sla_breached_at = case when v_due then p_now else x.sla_breached_at end
     where x.id = p_id
    returning * into c;
    v_events := v_events || jsonb_build_array(sb_event('conversation.' || p_state, p_id, was.agent_id,
                                         jsonb_build_object('conversation', sb_conversation_json(c), 'by', p_by)));
    return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
    return;
  exception
    when sqlstate 'SB001' then
      null;
  end;
  perform pg_advisory_xact_lock(7301001);
  select * into was from conversations x where x.id = p_id for update;
  if not found then
    return;
  end if;
  if was.state not in ('queued', 'offered', 'assigned') or (p_only_agent is not null and (was.agent_id is distinct from p_only_agent or was.state = 'offered')) then
    return query select null::conversations, was.state, was.agent_id, '[]'::jsonb;
    return;
  end if;
  -- Closed unanswered past its SLA before a sweep saw it: the breach is
  -- raised now, as the sweep would have (it no longer looks at closed ones).
  v_events := sb_close_sla_breach(was, p_now);
  update conversations x
     set state = p_state, resolved_at = p_now, resolve_reason = p_reason, note = coalesce(p_note, x.note), updated_at = p_now,
         offer_expires_at = null, agent_id = case when was.state = 'offered' then null else x.agent_id end,
         sla_breached_at = case when sb_sla_due(was, p_now) then p_now else x.sla_breached_at end
   where x.id = p_id
  returning * into c;
  v_events := v_events || jsonb_build_array(sb_event('conversation.' || p_state, p_id, was.agent_id,
                                       jsonb_build_object('conversation', sb_conversation_json(c), 'by', p_by)));
  if was.agent_id is null then
    return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
    return;
  end if;
  -- The freed slot. At capacity the agent most often takes the queue's head
  -- at once: their row written twice (load - 1, then + 1 with
  -- last_assigned_at) was a row version and a statement more under the
  -- lock. So the head is asked first, with the slot freed in memory only:
  -- the head does not depend on the agent's load, and when no agent with
  -- room who serves it comes before the agent (with the slot freed) in the
  -- pick's order (sb_agent_ahead), the policy's pick is this agent, who
  -- serves it and has room. They get it with their load unchanged
  -- (sb_assign, p_load 0). With no head, the match has nothing to give (its
  -- head would be the same): the freed slot is written and that is all.
  -- Any other outcome, or a head with a skill requirement (the pick's order
  -- starts with the skill score), writes the freed slot and matches as
  -- before (sb_match_for_agent).
  select * into me from agents a where a.id = was.agent_id;
  if me.status = 'online' and me.deleted_at is null and me.load - 1 < sb_capacity(me) then
    next_one := sb_head_for_agent(p_now, me, sb_any_manual(), sb_queue_ages());
    if next_one.id is null then
      update agents set load = load - 1, updated_at = p_now where id = was.agent_id;
      return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
      return;
    end if;
    if next_one.required_skills = '{}'::jsonb and not sb_agent_ahead(next_one, p_now, me) then
      next_one := sb_assign(p_now, next_one, me.id, 0);
      return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events || sb_given_event(next_one));
      return;
    end if;
  end if;
  update agents set load = load - 1, updated_at = p_now where id = was.agent_id;
  for next_one in select * from sb_match_for_agent(p_now, was.agent_id) loop
    v_events := v_events || sb_given_event(next_one);
  end loop;
  return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
end
$$;


-- First-response SLA (issue #20, item 3): conversation p_id, unanswered
-- (no agent message, first_response_at) and not yet breached at its due
-- time, is marked breached (sla_breached_at: once, in the transaction that
-- logs the event) and its conversation.sla_breached event returned, as a
-- jsonb array for sb_log_events; else an empty array.
create or replace function sb_raise_sla_breach(p_id uuid, p_now timestamptz) returns jsonb language plpgsql as $$
declare
  c conversations;
begin
  update conversations x set sla_breached_at = p_now, updated_at = p_now
   where x.id = p_id and x.sla_due_at <= p_now and x.first_response_at is null and x.sla_breached_at is null
  returning * into c;
  if not found then
    return '[]'::jsonb;
  end if;
  return jsonb_build_array(sb_sla_breached_event(c));
end
$$;
-- The conversation.sla_breached event of c, as it is once marked breached.
create or replace function sb_sla_breached_event(c conversations) returns jsonb language sql stable as $$
  select sb_event('conversation.sla_breached', c.id, c.agent_id,
                  jsonb_build_object('conversation', sb_conversation_json(c), 'due_at', sb_iso(c.sla_due_at)))
$$;
-- Whether conversation c, as read under the lock, is due a breach at p_now:
-- sb_raise_sla_breach's test, for a caller that writes the row anyway (a
-- close sets sla_breached_at in its own update instead of a second one).
create or replace function sb_sla_due(c conversations, p_now timestamptz) returns boolean language sql immutable as $$
  select coalesce(c.sla_due_at <= p_now and c.first_response_at is null and c.sla_breached_at is null, false)
$$;

-- The breach a close raises: conversation c as the close read it under the
-- lock, marked breached as the close's own update marks it (sb_sla_due),
-- as a jsonb array for sb_log_events; else an empty array.
create or replace function sb_close_sla_breach(c conversations, p_now timestamptz) returns jsonb language plpgsql stable as $$
begin
  if not sb_sla_due(c, p_now) then
    return '[]'::jsonb;
  end if;
  c.sla_breached_at := p_now;
  c.updated_at := p_now;
  return jsonb_build_array(sb_sla_breached_event(c));
end
$$;

-- The sweep's SLA step: every open conversation whose first response is
-- due by p_now and not given raises conversation.sla_breached, in due
-- order, at most p_limit per call (the sweep calls again while it gets a
-- full batch). Returns the events as logged.
create or replace function sb_sweep_sla_breaches(p_now timestamptz, p_limit int) returns jsonb language plpgsql as $$
declare
  v_events jsonb := '[]'::jsonb;
  v_id uuid;
begin
  perform pg_advisory_xact_lock(7301001);
  for v_id in
    select x.id from conversations x
     where x.sla_due_at <= p_now and x.sla_due_at is not null and x.first_response_at is null
       and x.sla_breached_at is null and x.resolved_at is null
     order by x.sla_due_at, x.seq
     limit p_limit
  loop
    v_events := v_events || sb_raise_sla_breach(v_id, p_now);
  end loop;
  return sb_log_events(p_now, v_events);
end
$$;

-- ---- Offer and accept (issue #20 item 5) ---------------------------------
-- An offered conversation is held for one agent (its slot counted in their
-- load) until they accept it, decline it, or the offer expires. A declined
-- or expired offer goes back to the queue with its seq and queued_at (the
-- customer never stopped waiting, so it keeps its place) and is given to
-- the next agent in the same call; the agent who let it go is in
-- declined_by, so it is not offered to them again while it waits.

-- Every give the queue allows now, in queue order (sb_match_next until
-- nothing matches), as events: what a change that can free many slots at
-- once ends with.
-- First, sticky waits that have ended are recorded as ended (sticky_until
-- cleared): a wait ends by time alone, and left set, the open's probe for
-- ended waits (sb_open_conversation) stayed true for as long as such a
-- conversation waited (nobody with room), so every open drained. Clearing
-- changes no eligibility (sb_agent_serves reads an ended wait as none) and
-- no place (seq, queued_at stay). sticky_agent_id stays: the agent it
-- waited for is its history (who the customer came back to), and no
-- reader looks at it without a sticky_until still to come.
create or replace function sb_drain_events(p_now timestamptz) returns jsonb language plpgsql as $$
declare
  given conversations;
  v_events jsonb := '[]'::jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  -- An empty queue has nothing to give and no wait to end: most sweeps
  -- find it so, and the match's query costs far more than this probe.
  if not exists (select 1 from conversations x where x.state = 'queued') then
    return v_events;
  end if;
  -- Asked first in conversations_sticky_waits' order (the earliest wait's
  -- end), which no other index gives: the update alone, on a conversations
  -- table without statistics, got a generic plan that walked another queue
  -- index over every queued conversation at every sweep (issue #22).
  if (select x.sticky_until from conversations x
       where x.state = 'queued' and x.sticky_until is not null
       order by x.sticky_until limit 1) <= p_now then
    update conversations x set sticky_until = null
     where x.state = 'queued' and x.sticky_until is not null and x.sticky_until <= p_now;
  end if;
  loop
    select * into given from sb_match_next(p_now);
    exit when given.id is null;
    v_events := v_events || sb_given_event(given);
  end loop;
  return v_events;
end
$$;

-- Takes offered conversation c back from its agent into the queue: the
-- slot is released; p_declined keeps the agent from being offered it again.
create or replace function sb_unoffer(p_now timestamptz, c conversations, p_declined boolean) returns conversations language plpgsql as $$
declare
  back conversations;
begin
  update agents set load = load - 1, updated_at = p_now where id = c.agent_id;
  update conversations x
     set state = 'queued', agent_id = null, offer_expires_at = null, updated_at = p_now,
         declined_by = case when p_declined then x.declined_by || c.agent_id else x.declined_by end,
         declined_at = case when p_declined then p_now else x.declined_at end
   where x.id = c.id
  returning * into back;
  return back;
end
$$;

-- An offer answered by p_agent: p_accept true takes it (assigned, assigned_at
-- now, the agent's run of expiries reset), false declines it (back to the
-- queue, then to the next agent, and the decliner's freed slot to the queue).
-- Only the agent it is offered to may answer; anything else writes nothing
-- and returns answered = null with the row as it was (before_state,
-- before_agent_id) so the caller can say why; no row when there is no such
-- conversation.
-- Events: conversation.assigned; or conversation.offer_declined (agent_id:
-- the decliner) then whatever the queue gives (conversation.offered/assigned).
create or replace function sb_answer_offer(p_now timestamptz, p_conversation uuid, p_agent uuid, p_accept boolean)
returns table (answered conversations, before_state text, before_agent_id uuid, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was conversations;
  c conversations;
  given conversations;
  v_events jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  select * into was from conversations x where x.id = p_conversation for update;
  if not found then
    return;
  end if;
  if was.state <> 'offered' or was.agent_id is distinct from p_agent then
    return query select null::conversations, was.state, was.agent_id, '[]'::jsonb;
    return;
  end if;
  if p_accept then
    update agents set offer_expiries = 0, updated_at = p_now where id = p_agent;
    update conversations x
       set state = 'assigned', assigned_at = p_now, offer_expires_at = null, declined_by = '{}', updated_at = p_now
     where x.id = p_conversation
    returning * into c;
    return query select c, was.state, was.agent_id, sb_log_events(p_now, jsonb_build_array(sb_given_event(c)));
    return;
  end if;
  c := sb_unoffer(p_now, was, true);
  v_events := jsonb_build_array(sb_event('conversation.offer_declined', c.id, p_agent,
                                         jsonb_build_object('conversation', sb_conversation_json(c), 'agent_id', p_agent)));
  -- Before the decline no queued conversation had an eligible agent with
  -- room, so this one goes first to the policy's pick, then the decliner's
  -- slot to the queue.
  given := c;
  if sb_pick_agent(c, p_now) is not null then
    given := sb_assign(p_now, c, sb_pick_agent(c, p_now), 1);
    v_events := v_events || sb_given_event(given);
  end if;
  for given in select * from sb_match_for_agent(p_now, p_agent) loop
    v_events := v_events || sb_given_event(given);
  end loop;
  select * into c from conversations x where x.id = p_conversation;
  return query select c, was.state, was.agent_id, sb_log_events(p_now, v_events);
end
$$;

-- The sweep's part in offers, a timer that survives restarts since it is
-- the rows' offer_expires_at: offers past their time go back to the queue
-- (conversation.offer_expired) and count against their agent; an agent who
-- lets offer_expiries_before_away offers in a row expire (the K of the
-- department of the offer that reached it) is set away
-- (agent.status_changed, reason offers_expired) and their other offers
-- withdrawn. Offers held by an agent no longer online (set away or offline,
-- deleted) are withdrawn without counting: conversation.queued, reason
-- offer_withdrawn. Then the queue is drained, so each goes to the next agent.
-- Returns how many offers expired and the agents set away.
create or replace function sb_expire_offers(p_now timestamptz)
returns table (expired int, set_away uuid[], logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  c conversations;
  back conversations;
  a agents;
  n int := 0;
  away uuid[] := '{}';
  v_events jsonb := '[]'::jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  -- The agents' rows before the conversations': the lock order (top of
  -- file). Under the lock exclusive an offered conversation's agent
  -- changes only here, so the rows locked now are those the loop locks
  -- again (then without a wait).
  perform 1 from agents ag
   where ag.id in (select x.agent_id from conversations x join agents a on a.id = x.agent_id
                    where x.state = 'offered'
                      and (x.offer_expires_at <= p_now or a.status <> 'online' or a.deleted_at is not null))
   order by ag.id
     for update;
  for c in
    select x.* from conversations x
      join agents ag on ag.id = x.agent_id
     where x.state = 'offered'
       and (x.offer_expires_at <= p_now or ag.status <> 'online' or ag.deleted_at is not null)
     order by x.priority desc, x.seq
       for update of x
  loop
    -- an earlier step of this loop may have withdrawn it already
    continue when (select x.state from conversations x where x.id = c.id) <> 'offered';
    select * into a from agents ag where ag.id = c.agent_id for update;
    if a.status <> 'online' or a.deleted_at is not null then
      back := sb_unoffer(p_now, c, false);
      v_events := v_events || sb_event('conversation.queued', c.id, c.agent_id,
                    jsonb_build_object('conversation', sb_conversation_json(back), 'reason', 'offer_withdrawn', 'previous_agent_id', c.agent_id));
      continue;
    end if;
    back := sb_unoffer(p_now, c, true);
    n := n + 1;
    update agents ag set offer_expiries = ag.offer_expiries + 1 where ag.id = a.id returning * into a;
    v_events := v_events || sb_event('conversation.offer_expired', c.id, a.id,
                  jsonb_build_object('conversation', sb_conversation_json(back), 'agent_id', a.id, 'expiries_in_a_row', a.offer_expiries));
    if a.offer_expiries >= (sb_department_routing(c.department) ->> 'offer_expiries_before_away')::int then
      update agents ag set status = 'away', offline_since = null, resume_status = null, offer_expiries = 0, updated_at = p_now
       where ag.id = a.id;
      away := away || a.id;
      v_events := v_events || sb_event('agent.status_changed', null, a.id,
                    jsonb_build_object('agent_id', a.id, 'from', 'online', 'to', 'away', 'reason', 'offers_expired', 'by', null));
      for back in
        select x.* from conversations x where x.state = 'offered' and x.agent_id = a.id order by x.priority desc, x.seq for update
      loop
        back := sb_unoffer(p_now, back, false);
        v_events := v_events || sb_event('conversation.queued', back.id, a.id,
                      jsonb_build_object('conversation', sb_conversation_json(back), 'reason', 'offer_withdrawn', 'previous_agent_id', a.id));
      end loop;
    end if;
  end loop;
  -- Declines run out (docs/routing.md#offer-and-accept): a conversation
  -- still waiting offer_timeout_s after its last decline or expiry is open
  -- to every eligible agent again, decliners included, so one that every
  -- agent declined is offered anew rather than waiting for ever.
  v_events := v_events || sb_clear_declines(p_now);
  -- Slots freed here go to the queue now, in this call, so the events keep
  -- the order of the changes; with nothing freed the sweep's own drain
  -- (src/routing/sweep.ts) does the matching, and counts it.
  if jsonb_array_length(v_events) > 0 then
    v_events := v_events || sb_drain_events(p_now);
  end if;
  return query select n, away, sb_log_events(p_now, v_events);
end
$$;

-- ---- Manual pick (issue #20 item 6) --------------------------------------
-- In a manual-mode department nothing is given automatically
-- (sb_auto_routed); agents take conversations from the queue. p_agent picks
-- p_conversation: it must still be queued (else SB_ALREADY_TAKEN, or
-- SB_CONVERSATION_CLOSED), in a manual department (SB_NOT_MANUAL), the agent
-- online (SB_AGENT_UNAVAILABLE), eligible for it (SB_NOT_ELIGIBLE), with
-- room (SB_NO_ROOM), and with manual_order 'in_order' it must be the head of
-- its department's queue among the conversations the agent may serve
-- (SB_NOT_NEXT). Under the routing lock, so of concurrent picks of one
-- conversation exactly one wins and no agent goes over capacity.
-- Returns picked = null and the refusal's code when refused, nothing written;
-- no row when there is no such conversation.
-- Events: conversation.assigned (data.picked true).
create or replace function sb_pick(p_now timestamptz, p_conversation uuid, p_agent uuid)
returns table (picked conversations, refusal text, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  c conversations;
  me agents;
  routing jsonb;
  head uuid;
begin
  perform pg_advisory_xact_lock(7301001);
  -- the agent's row before the conversation's: the lock order (top of file)
  select * into me from agents a where a.id = p_agent for update;
  select * into c from conversations x where x.id = p_conversation for update;
  if not found then
    return;
  end if;
  routing := sb_department_routing(c.department);
  if c.state in ('resolved', 'abandoned') then
    return query select null::conversations, 'SB_CONVERSATION_CLOSED', '[]'::jsonb;
    return;
  elsif c.state <> 'queued' then
    return query select null::conversations, 'SB_ALREADY_TAKEN', '[]'::jsonb;
    return;
  elsif routing ->> 'mode' <> 'manual' then
    return query select null::conversations, 'SB_NOT_MANUAL', '[]'::jsonb;
    return;
  elsif me.id is null or me.status <> 'online' or me.deleted_at is not null then
    return query select null::conversations, 'SB_AGENT_UNAVAILABLE', '[]'::jsonb;
    return;
  elsif not sb_agent_serves(me, c, p_now) then
    return query select null::conversations, 'SB_NOT_ELIGIBLE', '[]'::jsonb;
    return;
  elsif me.load >= sb_capacity(me) then
    return query select null::conversations, 'SB_NO_ROOM', '[]'::jsonb;
    return;
  end if;
  if routing ->> 'manual_order' = 'in_order' then
    select x.id into head from conversations x
     where x.state = 'queued' and x.department is not distinct from c.department and sb_agent_serves(me, x, p_now)
     order by sb_effective_priority(x, p_now) desc, x.seq
     limit 1;
    if head <> c.id then
      return query select null::conversations, 'SB_NOT_NEXT', '[]'::jsonb;
      return;
    end if;
  end if;
  c := sb_assign(p_now, c, p_agent, 1);
  return query select c, null::text, sb_log_events(p_now, jsonb_build_array(
    sb_event('conversation.assigned', c.id, p_agent, jsonb_build_object('conversation', sb_conversation_json(c), 'picked', true))));
end
$$;

-- ---- Transfer, requeue, agents and the sweep in one call (issue #22 item 1)
-- The remaining routing changes, each one call as open and resolve are:
-- the routing lock first (exclusive), the decision, the writes, the
-- events last (sb_log_events), and the rows the HTTP answer needs. A
-- refusal writes nothing and returns its code for the caller to word.
-- The drains are those of docs/architecture.md ("Scoped drains"): a
-- change that frees one agent's room asks sb_match_for_agent; one that
-- puts a conversation back in the queue, or frees many slots, drains the
-- whole queue in order (sb_drain_events), so the freed slot goes to the
-- head of the queue and nobody is overtaken.

-- Every give an agent who gained room allows (sb_match_for_agent until it
-- gives nothing), as events: an agent who came online may take several.
create or replace function sb_drain_agent_events(p_now timestamptz, p_agent uuid) returns jsonb language plpgsql as $$
declare
  given conversations;
  v_events jsonb := '[]'::jsonb;
  n int;
begin
  loop
    n := 0;
    for given in select * from sb_match_for_agent(p_now, p_agent) loop
      v_events := v_events || sb_given_event(given);
      n := n + 1;
    end loop;
    exit when n = 0;
  end loop;
  return v_events;
end
$$;

-- Puts assigned (or offered) conversations back in the queue: those in
-- p_conversations and those held by the agents in p_agents. Each keeps its
-- arrival seq, so it returns to its place, not the back; its agent's slot
-- is released. p_set_department: it moves to p_department as it goes
-- (a transfer to a department). Events: conversation.queued (reason
-- p_reason, previous_agent_id), in queue order.
create or replace function sb_requeue_events(
  p_now timestamptz, p_conversations uuid[], p_agents uuid[], p_reason text, p_set_department boolean, p_department text
) returns jsonb language plpgsql as $$
declare
  c conversations;
  back conversations;
  v_events jsonb := '[]'::jsonb;
begin
  for c in
    select x.* from conversations x
     where x.state in ('assigned', 'offered') and (x.id = any (p_conversations) or x.agent_id = any (p_agents))
     order by x.seq
       for update
  loop
    update agents set load = load - 1, updated_at = p_now where id = c.agent_id;
    update conversations x
       set state = 'queued', agent_id = null, queued_at = p_now, updated_at = p_now, offer_expires_at = null, declined_by = '{}',
           department = case when p_set_department then p_department else x.department end,
           -- moved to a department, it no longer waits for its last agent (who may not serve it there)
           sticky_until = case when p_set_department then null else x.sticky_until end
     where x.id = c.id
    returning * into back;
    v_events := v_events || sb_event('conversation.queued', back.id, c.agent_id,
                  jsonb_build_object('conversation', sb_conversation_json(back), 'reason', p_reason, 'previous_agent_id', c.agent_id));
  end loop;
  return v_events;
end
$$;

-- The offline grace period, policy `requeue` (settings offline_policy,
-- agent_offline_grace_ms): the conversations of agents offline for longer
-- than the grace go back to the queue (reason agent_offline). Returns the
-- events; the caller drains the queue when there are any.
create or replace function sb_requeue_after_grace_events(p_now timestamptz) returns jsonb language plpgsql as $$
begin
  if (select s.value #>> '{}' from settings s where s.key = 'offline_policy') is distinct from 'requeue' then
    return '[]'::jsonb;
  end if;
  return sb_requeue_events(p_now, '{}', array(
    -- a channel's agents (Qiscus mirrors) are always offline here: their rooms are the channel's to move
    select a.id from agents a
     where a.status = 'offline' and a.load > 0 and a.source is null
       and a.offline_since <= p_now - make_interval(secs => (select (s.value #>> '{}')::float8 / 1000 from settings s where s.key = 'agent_offline_grace_ms'))),
    'agent_offline', false, null);
end
$$;

-- An agent's presence changes to p_status (reason and by as
-- agent.status_changed carries them): offline_since starts when they go
-- offline, a change that is not offline is a sign of life, and the status
-- to resume on a heartbeat is forgotten. Returns the event.
create or replace function sb_apply_status(p_now timestamptz, p_agent uuid, p_status text, p_reason text, p_by text) returns jsonb language plpgsql as $$
declare
  v_from text;
begin
  select a.status into v_from from agents a where a.id = p_agent;
  update agents x set
      status = p_status,
      offline_since = case when p_status = 'offline' then p_now else null end,
      last_seen_at = case when p_status = 'offline' then x.last_seen_at else p_now end,
      resume_status = null,
      updated_at = p_now
   where x.id = p_agent;
  return sb_event('agent.status_changed', null, p_agent,
    jsonb_build_object('agent_id', p_agent, 'from', v_from, 'to', p_status, 'reason', p_reason, 'by', p_by));
end
$$;

-- Transfers open conversation p_id to agent p_to_agent (a direct
-- assignment, even in an offer-mode department: someone decided), or, when
-- p_to_agent is null, to department p_department, where it re-enters the
-- queue at its original place. p_only_agent: the agent who may act only on
-- their own conversations, or null. A Qiscus room may only go back to its
-- own department (its agent is chosen by the Qiscus allocator).
-- Refusals, in this order (nothing written; refusal names it, with the
-- row and the target as they were): forbidden, SB_CONVERSATION_CLOSED,
-- SB_NOT_ACCEPTED (an offer's own agent), SB_QISCUS_TRANSFER,
-- channel_queue, agent_not_found, SB_ALREADY_ASSIGNED, SB_AGENT_UNAVAILABLE,
-- SB_AGENT_AT_CAPACITY. No row: no such conversation.
-- Events: conversation.queued (reason transferred, when it left an agent
-- for a department), conversation.transferred, conversation.assigned
-- (transferred: true) when a waiting one went to an agent, then what the drain gives:
-- to an agent, the previous agent's freed slot (sb_match_for_agent); to a
-- department, the whole queue in order.
create or replace function sb_transfer_conversation(
  p_id uuid, p_now timestamptz, p_to_agent uuid, p_department text, p_only_agent uuid, p_by text
) returns table (moved conversations, refusal text, before_state text, before_agent_id uuid, before_department text,
                 target_status text, target_load int, target_capacity int, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was conversations;
  c conversations;
  target agents;
  v_capacity int;
  v_events jsonb := '[]'::jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  -- the target's row before the conversation's: the lock order (top of
  -- file). The previous agent's row is written after, as the exclusive
  -- path may: that write (no key update) conflicts only with another
  -- writer of the row, none of which then waits for a conversation.
  if p_to_agent is not null then
    select * into target from agents a where a.id = p_to_agent and a.deleted_at is null for update;
  end if;
  select * into was from conversations x where x.id = p_id for update;
  if not found then
    return;
  end if;
  if p_only_agent is not null and was.agent_id is distinct from p_only_agent then
    refusal := 'forbidden';
  elsif was.state in ('resolved', 'abandoned') then
    refusal := 'SB_CONVERSATION_CLOSED';
  elsif p_only_agent is not null and was.state = 'offered' then
    -- an offer is not the agent's until accepted: they may accept or decline it, not pass it on (as for a close or a reply)
    refusal := 'SB_NOT_ACCEPTED';
  elsif was.channel = 'qiscus' and (p_to_agent is not null or p_department is distinct from was.department) then
    refusal := 'SB_QISCUS_TRANSFER';
  elsif p_department like '@%' and p_department is distinct from was.department then
    -- a channel's own queue (src/routing/channel-queues.ts): only its channel's rooms wait there
    refusal := 'channel_queue';
  end if;
  if refusal is null and p_to_agent is not null then
    if target.id is null then
      refusal := 'agent_not_found';
    else
      v_capacity := sb_capacity(target);
      if was.agent_id = p_to_agent and was.state = 'assigned' then
        refusal := 'SB_ALREADY_ASSIGNED';
      elsif target.status <> 'online' then
        refusal := 'SB_AGENT_UNAVAILABLE';
      -- offered to the target, it holds one of their slots already: the transfer assigns it there
      elsif target.load >= v_capacity and was.agent_id is distinct from p_to_agent then
        refusal := 'SB_AGENT_AT_CAPACITY';
      end if;
    end if;
  end if;
  if refusal is not null then
    return query select null::conversations, refusal, was.state, was.agent_id, was.department, target.status, target.load, v_capacity, '[]'::jsonb;
    return;
  end if;
  if p_to_agent is not null then
    if was.agent_id is not null then
      update agents set load = load - 1, updated_at = p_now where id = was.agent_id;
    end if;
    -- given the offer they held, as an accept would: their run of expiries ends
    update agents set load = load + 1, last_assigned_at = p_now, updated_at = p_now,
                      offer_expiries = case when was.state = 'offered' and was.agent_id = p_to_agent then 0 else offer_expiries end
     where id = p_to_agent;
    update conversations x
       set state = 'assigned', agent_id = p_to_agent, assigned_at = p_now, updated_at = p_now, offer_expires_at = null, declined_by = '{}'
     where x.id = p_id
    returning * into c;
  elsif was.state <> 'queued' then
    v_events := sb_requeue_events(p_now, array[p_id], '{}', 'transferred', true, p_department);
    select * into c from conversations x where x.id = p_id;
  else
    -- someone decided where it waits: a sticky wait for its last agent and the decline list end, as a requeue ends them
    update conversations x set department = p_department, sticky_until = null, declined_by = '{}', updated_at = p_now
     where x.id = p_id returning * into c;
  end if;
  v_events := v_events || jsonb_build_array(sb_event('conversation.transferred', p_id, c.agent_id, jsonb_build_object(
    'conversation', sb_conversation_json(c),
    'from_agent_id', was.agent_id,
    'to_agent_id', p_to_agent,
    'from_department', was.department,
    'to_department', c.department,
    'by', p_by)));
  if p_to_agent is not null and was.state <> 'assigned' then
    -- waiting (queued or offered) until now: it is assigned, as a match or an
    -- accept would have said; `transferred` tells it from the policy's gives
    v_events := v_events || jsonb_build_array(sb_event('conversation.assigned', p_id, c.agent_id,
                  jsonb_build_object('conversation', sb_conversation_json(c), 'transferred', true)));
  end if;
  if p_to_agent is not null then
    if was.agent_id is not null then
      for c in select * from sb_match_for_agent(p_now, was.agent_id) loop
        v_events := v_events || sb_given_event(c);
      end loop;
    end if;
  else
    v_events := v_events || sb_drain_events(p_now);
  end if;
  select * into c from conversations x where x.id = p_id;
  return query select c, null::text, was.state, was.agent_id, was.department, null::text, null::int, null::int, sb_log_events(p_now, v_events);
end
$$;

-- Returns assigned conversation p_id to the queue at its original place,
-- then drains the whole queue in order, so the policy may give it straight
-- back to the same agent when they are still the best choice.
-- Refusals (nothing written): forbidden (p_only_agent as in
-- sb_transfer_conversation), SB_CONVERSATION_CLOSED, SB_NOT_ASSIGNED. No
-- row: no such conversation.
-- Events: conversation.queued (reason requeued), then the drain's.
create or replace function sb_requeue_conversation(p_id uuid, p_now timestamptz, p_only_agent uuid)
returns table (requeued conversations, refusal text, before_state text, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was conversations;
  c conversations;
  v_events jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  select * into was from conversations x where x.id = p_id for update;
  if not found then
    return;
  end if;
  if p_only_agent is not null and was.agent_id is distinct from p_only_agent then
    refusal := 'forbidden';
  elsif was.state in ('resolved', 'abandoned') then
    refusal := 'SB_CONVERSATION_CLOSED';
  elsif was.state <> 'assigned' then
    refusal := 'SB_NOT_ASSIGNED';
  end if;
  if refusal is not null then
    return query select null::conversations, refusal, was.state, '[]'::jsonb;
    return;
  end if;
  v_events := sb_requeue_events(p_now, array[p_id], '{}', 'requeued', false, null);
  v_events := v_events || sb_drain_events(p_now);
  select * into c from conversations x where x.id = p_id;
  return query select c, null::text, was.state, sb_log_events(p_now, v_events);
end
$$;

-- Whether agent p_by may still do what they were let in for: a request is
-- authorized when it arrives, and works (a password hashed) before it
-- writes; an admin deleted or demoted meanwhile must not have it written.
-- Checked under a share lock on their row, so a deletion or role change
-- committed first is seen, and one made later waits for this transaction.
-- p_roles: the roles the route admits (empty: any); null, or p_by null:
-- no check (the system acting). Returns SB_UNAUTHORIZED (no such live
-- agent: their tokens are refused now too), SB_FORBIDDEN (their role is no
-- longer one of p_roles), or null. sb_update_agent and sb_delete_agent take
-- this row before the one they change, not in id order: they hold the
-- routing lock exclusive, and no path without it holds one agent's row
-- while it waits for another's, so the two cannot be in a cycle.
create or replace function sb_actor_refusal(p_by text, p_roles text[])
returns text language plpgsql as $$
declare
  v_role text;
begin
  if p_by is null or p_roles is null then
    return null;
  end if;
  select a.role into v_role from agents a where a.id = p_by::uuid and a.deleted_at is null for share;
  if not found then
    return 'SB_UNAUTHORIZED';
  end if;
  if cardinality(p_roles) > 0 and not (v_role = any (p_roles)) then
    return 'SB_FORBIDDEN';
  end if;
  return null;
end
$$;

-- Updates agent p_id: every field is optional (null: unchanged; the
-- p_set_* flags say whether a nullable field is given), p_password_hash
-- already hashed. Status, capacity, departments and skills decide routing,
-- so an agent who is online after the update is filled from the queue
-- (sb_drain_agent_events) before it is acknowledged; one who is offline
-- with no grace period has their conversations moved at once, to whoever
-- has room (a full drain). p_changed: the fields agent.updated names, or
-- null for no such event. A new password ends every session.
-- p_unless_status: when true and the agent's status already is p_status,
-- nothing is written but a keep-alive timeout's resume_status when p_status
-- is offline (logging out is choosing offline: no heartbeat brings the agent
-- back), and the row is returned. Decided
-- under the agent's row lock, so a status change committed while this call
-- waited for it is the one it goes by.
-- Refusals (nothing written): SB_CHANNEL_AGENT (with the row as it was: a
-- channel's agent whose status, departments, password or role the patch
-- would set other than as the channel made it), channel_queue (a person
-- given a channel's queue), SB_EMAIL_TAKEN, SB_LAST_ADMIN. No row: no such
-- agent.
-- p_by_roles: see sb_actor_refusal; its refusal comes first, with no row.
-- Events: agent.updated, agent.status_changed, then the drains'.
-- The signatures before p_unless_status and before p_by_roles: `create or
-- replace` would add an overload beside them, and calls with fewer
-- arguments would be ambiguous.
drop function if exists sb_update_agent(uuid, timestamptz, text, text, text, text, boolean, int, text[], boolean, text, jsonb, text, text[], text);
drop function if exists sb_update_agent(uuid, timestamptz, text, text, text, text, boolean, int, text[], boolean, text, jsonb, text, text[], text, boolean);
create or replace function sb_update_agent(
  p_id uuid, p_now timestamptz, p_name text, p_email text, p_password_hash text, p_role text,
  p_set_capacity boolean, p_capacity int, p_departments text[], p_set_external_ref boolean, p_external_ref text,
  p_skills jsonb, p_status text, p_changed text[], p_by text, p_unless_status boolean default null, p_by_roles text[] default null
) returns table (updated agents, refusal text, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was agents;
  r agents;
  v_events jsonb := '[]'::jsonb;
  v_requeued jsonb;
  v_refusal text;
  withdrawn conversations;
  back conversations;
  v_withdrew boolean := false;
begin
  perform pg_advisory_xact_lock(7301001);
  v_refusal := sb_actor_refusal(p_by, p_by_roles);
  if v_refusal is not null then
    return query select null::agents, v_refusal, '[]'::jsonb;
    return;
  end if;
  select * into was from agents a where a.id = p_id and a.deleted_at is null for update;
  if not found then
    return;
  end if;
  if p_unless_status and was.status = p_status then
    -- Logging out is choosing offline: a keep-alive timeout's resume_status goes, so that
    -- a heartbeat from another of the agent's sessions does not bring them back.
    if p_status = 'offline' and was.resume_status is not null then
      update agents a set resume_status = null, updated_at = p_now where a.id = p_id returning * into was;
    end if;
    return query select was, null::text, '[]'::jsonb;
    return;
  end if;
  -- A channel's agent (a Qiscus mirror) is available when the channel says
  -- and serves only the channel's queue (src/routing/channel-queues.ts): an
  -- engine status, other departments, a password or a role would let the
  -- engine give it rooms the channel never hears of, or someone sign in as
  -- it. A patch may set them only as the channel made them (a repair).
  if was.source is not null and ((p_status is not null and p_status <> 'offline')
      or (p_departments is not null and p_departments is distinct from array['@' || was.source])
      or p_password_hash is not null or (p_role is not null and p_role <> 'agent')) then
    return query select was, 'SB_CHANNEL_AGENT', '[]'::jsonb;
    return;
  end if;
  -- ... and nobody else is in a channel's queue
  if was.source is null and exists (select 1 from unnest(p_departments) d where d like '@%') then
    return query select was, 'channel_queue', '[]'::jsonb;
    return;
  end if;
  if p_email is not null and exists (select 1 from agents a where lower(a.email) = lower(p_email) and a.deleted_at is null and a.id <> p_id) then
    return query select null::agents, 'SB_EMAIL_TAKEN', '[]'::jsonb;
    return;
  end if;
  if p_role is not null and p_role <> 'admin' and was.role = 'admin'
     and not exists (select 1 from agents a where a.role = 'admin' and a.deleted_at is null and a.id <> p_id) then
    return query select null::agents, 'SB_LAST_ADMIN', '[]'::jsonb;
    return;
  end if;
  update agents a set
      name = coalesce(p_name, a.name),
      email = coalesce(p_email, a.email),
      password_hash = coalesce(p_password_hash, a.password_hash),
      role = coalesce(p_role, a.role),
      capacity = case when p_set_capacity then p_capacity else a.capacity end,
      departments = coalesce(p_departments, a.departments),
      external_ref = case when p_set_external_ref then p_external_ref else a.external_ref end,
      updated_at = p_now,
      skills = coalesce(p_skills, a.skills)
   where a.id = p_id
  returning * into r;
  if p_password_hash is not null then
    update auth_tokens t set revoked_at = p_now where t.agent_id = p_id and t.revoked_at is null;
  end if;
  if p_changed is not null then
    v_events := v_events || jsonb_build_array(sb_event('agent.updated', null, p_id,
                  jsonb_build_object('agent_id', p_id, 'changed', to_jsonb(p_changed), 'by', p_by)));
  end if;
  -- An offer the agent may no longer serve (moved out of its department,
  -- a required skill taken away) is withdrawn now, without counting against
  -- them: left, the customer waited out the offer timeout while an eligible
  -- agent sat idle, and the agent could still accept it. The agent's row is
  -- locked, so their offers' rows come after it, in the lock order.
  if p_departments is not null or p_skills is not null then
    for withdrawn in
      select x.* from conversations x where x.state = 'offered' and x.agent_id = p_id order by x.priority desc, x.seq for update
    loop
      continue when sb_agent_serves(r, withdrawn, p_now);
      back := sb_unoffer(p_now, withdrawn, false);
      if back.sticky_agent_id = p_id and back.sticky_until is not null then
        -- it waited for this agent, who no longer serves it: the wait ends, or nobody could take it
        update conversations x set sticky_until = null where x.id = back.id returning * into back;
      end if;
      v_events := v_events || jsonb_build_array(sb_event('conversation.queued', back.id, p_id,
                    jsonb_build_object('conversation', sb_conversation_json(back), 'reason', 'offer_withdrawn', 'previous_agent_id', p_id)));
      v_withdrew := true;
    end loop;
    if v_withdrew then
      select * into r from agents a where a.id = p_id;
    end if;
  end if;
  if p_status is not null and p_status <> was.status then
    v_events := v_events || jsonb_build_array(
      sb_apply_status(p_now, p_id, p_status, case when p_status = 'offline' then 'set_offline' else 'set' end, p_by));
    if was.source is not null then
      -- offline as the channel made it: no grace running out, which would requeue the channel's rooms
      update agents a set offline_since = null where a.id = p_id;
    end if;
    select * into r from agents a where a.id = p_id;
  elsif p_status = 'offline' then
    -- Choosing offline, even when a keep-alive timeout already set it, means a heartbeat must not bring the agent back.
    update agents a set resume_status = null where a.id = p_id;
  elsif p_status is not null then
    -- Re-asserting online or away counts as a sign of life.
    update agents a set last_seen_at = p_now where a.id = p_id;
  end if;
  if r.status = 'online' then
    v_events := v_events || sb_drain_agent_events(p_now, p_id);
  end if;
  if r.status = 'offline' then
    v_requeued := sb_requeue_after_grace_events(p_now);
    if jsonb_array_length(v_requeued) > 0 then
      v_events := v_events || v_requeued || sb_drain_events(p_now);
    end if;
  end if;
  if v_withdrew then
    -- the withdrawn offers go back in queue order, to the agents who may serve them
    v_events := v_events || sb_drain_events(p_now);
  end if;
  select * into r from agents a where a.id = p_id;
  return query select r, null::text, sb_log_events(p_now, v_events);
end
$$;

-- Deletes agent p_id: offline at once, their open conversations back to
-- the queue (no grace: they are not coming back, reason agent_deleted),
-- their sessions ended, then the whole queue drained. The row stays,
-- soft-deleted, so past conversations still name who handled them.
-- Refusals (nothing written): sb_actor_refusal's for p_by, p_by_roles
-- (before anything else), SB_LAST_ADMIN. No row: no such agent.
-- Events: agent.status_changed (reason deleted, unless already offline),
-- conversation.queued, agent.deleted, then the drain's.
-- The signature before p_by_roles: `create or replace` would add an
-- overload beside it, and calls with three arguments would be ambiguous.
drop function if exists sb_delete_agent(uuid, timestamptz, text);
create or replace function sb_delete_agent(p_id uuid, p_now timestamptz, p_by text, p_by_roles text[] default null)
returns table (refusal text, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was agents;
  v_events jsonb := '[]'::jsonb;
  v_refusal text;
begin
  perform pg_advisory_xact_lock(7301001);
  v_refusal := sb_actor_refusal(p_by, p_by_roles);
  if v_refusal is not null then
    return query select v_refusal, '[]'::jsonb;
    return;
  end if;
  select * into was from agents a where a.id = p_id and a.deleted_at is null for update;
  if not found then
    return;
  end if;
  if was.role = 'admin' and not exists (select 1 from agents a where a.role = 'admin' and a.deleted_at is null and a.id <> p_id) then
    return query select 'SB_LAST_ADMIN', '[]'::jsonb;
    return;
  end if;
  if was.status <> 'offline' then
    v_events := v_events || jsonb_build_array(sb_apply_status(p_now, p_id, 'offline', 'deleted', p_by));
  end if;
  update agents a set status = 'offline', offline_since = p_now, deleted_at = p_now, updated_at = p_now where a.id = p_id;
  v_events := v_events || sb_requeue_events(p_now, '{}', array[p_id], 'agent_deleted', false, null);
  update auth_tokens t set revoked_at = p_now where t.agent_id = p_id and t.revoked_at is null;
  v_events := v_events || jsonb_build_array(sb_event('agent.deleted', null, p_id, jsonb_build_object('agent_id', p_id, 'by', p_by)));
  v_events := v_events || sb_drain_events(p_now);
  return query select null::text, sb_log_events(p_now, v_events);
end
$$;

-- A heartbeat from an agent marked offline (the cheap path, one update
-- without the lock, found them not online or away): one whose keep-alive
-- had expired (resume_status) is brought back to the status they had and,
-- if online, filled from the queue; offline by choice stays offline, a
-- heartbeat is not a login. Returns the agent as the status change left
-- it. No row: no such agent.
-- Events: agent.status_changed (reason heartbeat_resumed), then the drain's.
create or replace function sb_resume_agent(p_id uuid, p_now timestamptz)
returns table (resumed agents, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  was agents;
  r agents;
  v_events jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  select * into was from agents a where a.id = p_id and a.deleted_at is null for update;
  if not found then
    return;
  end if;
  -- a channel's agent (a Qiscus mirror) is never brought online here: the channel says when it is available
  if was.status <> 'offline' or was.resume_status is null or was.source is not null then
    update agents a set last_seen_at = p_now where a.id = p_id returning * into r;
    return query select r, '[]'::jsonb;
    return;
  end if;
  v_events := jsonb_build_array(sb_apply_status(p_now, p_id, was.resume_status, 'heartbeat_resumed', p_id::text));
  select * into r from agents a where a.id = p_id;
  if r.status = 'online' then
    v_events := v_events || sb_drain_agent_events(p_now, p_id);
  end if;
  return query select r, sb_log_events(p_now, v_events);
end
$$;

-- Whether an agent of status p_status (online or away) has not been seen
-- within the keep-alive at p_now (or never): two looks at the ends of its
-- range of agents_presence (status, last_seen_at; nulls last), in the
-- index's order. As one condition (`status <> 'offline' and (last_seen_at
-- is null or last_seen_at < ...)`) or an EXISTS, the generic plan on an
-- agents table without statistics walked every agent (through
-- agents_email_key, whose predicate the WHERE implies) at every sweep.
create or replace function sb_keep_alive_ran_out(p_status text, p_now timestamptz) returns boolean language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
begin
  -- backwards, nulls come first: the first row is a null if any is
  if (select x.last_seen_at is null from agents x where x.deleted_at is null and x.status = p_status
       order by x.status desc, x.last_seen_at desc limit 1) then
    return true;
  end if;
  return coalesce((select x.last_seen_at from agents x where x.deleted_at is null and x.status = p_status
                    order by x.status, x.last_seen_at limit 1)
                  < p_now - make_interval(secs => (select (s.value #>> '{}')::float8 / 1000 from settings s where s.key = 'attendant_keep_alive_ms')),
                  false);
end
$$;

-- Whether the sweep's offers step has work: an offered conversation, or a
-- queued one with declines to clear. The declines asked in
-- conversations_declined's order, which no other index gives: as an EXISTS,
-- the generic plan on a conversations table without statistics walked
-- another queue index over every queued conversation at every sweep (issue
-- #22).
create or replace function sb_offers_have_work() returns boolean language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
begin
  return exists (select 1 from conversations x where x.state = 'offered')
      or (select x.declined_at from conversations x where x.state = 'queued' and x.declined_at is not null
           order by x.declined_at limit 1) is not null;
end
$$;

-- Whether a sweep at p_now has anything to do, each of its steps asked by a
-- probe in its own index's order (a generic plan on tables without
-- statistics walks whichever index comes first: issue #22), without a lock:
-- an offer out or a decline to clear (the offers' step), a first response
-- due and not given (the SLA step), an agent whose keep-alive ran out, an
-- agent past the offline grace still holding conversations (policy
-- requeue), and for the drain a queue with an ended sticky wait to record
-- or an online agent with room (sb_match_next's own first question).
create or replace function sb_sweep_has_work(p_now timestamptz) returns boolean language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
begin
  if sb_offers_have_work() then
    return true;
  end if;
  if (select x.sla_due_at from conversations x
       where x.sla_due_at is not null and x.first_response_at is null and x.sla_breached_at is null and x.resolved_at is null
       order by x.sla_due_at limit 1) <= p_now then
    return true;
  end if;
  if sb_keep_alive_ran_out('online', p_now) or sb_keep_alive_ran_out('away', p_now) then
    return true;
  end if;
  if (select s.value #>> '{}' from settings s where s.key = 'offline_policy') = 'requeue'
     and (select a.offline_since from agents a where a.status = 'offline' and a.load > 0
           order by a.offline_since limit 1)
         <= p_now - make_interval(secs => (select (s.value #>> '{}')::float8 / 1000 from settings s where s.key = 'agent_offline_grace_ms')) then
    return true;
  end if;
  if not exists (select 1 from conversations x where x.state = 'queued') then
    return false;
  end if;
  return coalesce((select x.sticky_until from conversations x
                     where x.state = 'queued' and x.sticky_until is not null
                     order by x.sticky_until limit 1) <= p_now, false)
      or sb_anyone_with_room();
end
$$;

-- The sweep, the safety net behind event-driven matching, as one call
-- (src/routing/sweep.ts says what each step is for): offers that ran out
-- (sb_expire_offers), first-response SLAs passed (sb_sweep_sla_breaches,
-- p_sla_batch at a time), agents whose keep-alive expired set offline
-- (reason keep_alive_timeout, the status to resume kept), the grace
-- period's requeue, and a full drain. The first two log their events as
-- they go; the rest are logged last, so the events' ids follow the order
-- of the changes. Returns the counts and every event logged.
create or replace function sb_sweep_step(p_now timestamptz, p_sla_batch int)
returns table (agents_expired int, requeued int, offers_expired int, assigned int, sla_breached int, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  v_logged jsonb;
  v_sla jsonb;
  v_offers int;
  v_breached int := 0;
  v_expired int := 0;
  v_requeued jsonb;
  v_given jsonb;
  v_events jsonb := '[]'::jsonb;
  a record;
begin
  -- A sweep with nothing to do takes no lock: most sweeps find nothing (every
  -- change that frees room or queues a conversation drains in its own call),
  -- and the routing lock exclusive, taken by every process every second,
  -- waits for every shared holder in flight and stalls every change behind
  -- it. The probes read what has committed; a change still in flight that
  -- leaves work for the sweep is found by the next one (one interval later).
  if not sb_sweep_has_work(p_now) then
    return query select 0, 0, 0, 0, 0, '[]'::jsonb;
    return;
  end if;
  perform pg_advisory_xact_lock(7301001);
  -- The offers' step changes only offered conversations and queued ones
  -- with declines to clear; with neither (every sweep outside offer mode)
  -- it has nothing to do, and its locking queries cost more than the probes.
  if sb_offers_have_work() then
    select o.expired, o.logged into v_offers, v_logged from sb_expire_offers(p_now) o;
  else
    v_offers := 0;
    v_logged := '[]'::jsonb;
  end if;
  loop
    v_sla := sb_sweep_sla_breaches(p_now, p_sla_batch);
    v_logged := v_logged || v_sla;
    v_breached := v_breached + jsonb_array_length(v_sla);
    exit when jsonb_array_length(v_sla) < p_sla_batch;
  end loop;
  for a in
    update agents x
       set resume_status = x.status, status = 'offline', offline_since = p_now, updated_at = p_now
     where x.deleted_at is null and x.status <> 'offline'
       and (x.last_seen_at is null or x.last_seen_at < p_now - make_interval(secs => (
             select (s.value #>> '{}')::float8 / 1000 from settings s where s.key = 'attendant_keep_alive_ms')))
    returning x.id, x.resume_status as previous
  loop
    v_expired := v_expired + 1;
    v_events := v_events || jsonb_build_array(sb_event('agent.status_changed', null, a.id,
                  jsonb_build_object('agent_id', a.id, 'from', a.previous, 'to', 'offline', 'reason', 'keep_alive_timeout', 'by', null)));
  end loop;
  v_requeued := sb_requeue_after_grace_events(p_now);
  v_given := sb_drain_events(p_now);
  return query select v_expired, jsonb_array_length(v_requeued), v_offers, jsonb_array_length(v_given), v_breached,
    v_logged || sb_log_events(p_now, v_events || v_requeued || v_given);
end
$$;

-- ---- Qiscus rooms ---------------------------------------------------------
-- A Qiscus allocation webhook's room (src/channels/qiscus/rooms.ts): the
-- conversation is recorded queued in department p_department, in one call
-- and without the routing lock, since nothing is assigned here (the Qiscus
-- allocator gives it an agent from the list Qiscus offers for the room,
-- after the webhook is answered). Qiscus re-sends the webhook: a room
-- already open is returned with created = false and nothing changes.
-- No lock of its own: the open-reference unique index decides between
-- webhooks for one room sent at once. The second's insert waits for the
-- first's commit, then does nothing, and its read (a statement of its own,
-- so a snapshot of its own under read committed) finds the room the first
-- recorded. But the room it conflicted with may be closed (a resolve)
-- between that insert and the read: then the read finds no open room, and
-- the webhook (a new session of a room just resolved) must not be answered
-- with nothing recorded, so the insert is tried again.
-- p_verified: the channel the room came through authenticated its contact
-- (WhatsApp, LINE, …), so the id is vouched for; false for Qiscus's own web
-- widget, where the email is whatever the visitor typed (customerVouched in
-- rooms.ts). It defaults to false so that a caller that does not say is
-- never taken for a vouching one.
-- Events: conversation.created, conversation.queued (reason new).
drop function if exists sb_record_qiscus_room(text, text, jsonb, text, timestamptz);
create or replace function sb_record_qiscus_room(p_room text, p_customer_id text, p_customer jsonb, p_department text, p_now timestamptz, p_verified boolean default false)
returns table (room conversations, created boolean, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  c conversations;
begin
  loop
    insert into conversations (channel, external_ref, customer_id, customer, department, state, created_at, queued_at, updated_at, customer_verified)
    values ('qiscus', p_room, p_customer_id, p_customer, p_department, 'queued', p_now, p_now, p_now, coalesce(p_verified, false))
    on conflict (channel, external_ref) where external_ref is not null and state in ('queued', 'offered', 'assigned') do nothing
    returning * into c;
    exit when found;
    select * into c from conversations x where x.channel = 'qiscus' and x.external_ref = p_room and x.state in ('queued', 'offered', 'assigned');
    if found then
      return query select c, false, '[]'::jsonb;
      return;
    end if;
  end loop;
  return query select c, true, sb_log_events(p_now, jsonb_build_array(
    sb_event('conversation.created', c.id, null, jsonb_build_object('conversation', sb_conversation_json(c))),
    sb_event('conversation.queued', c.id, null, jsonb_build_object('conversation', sb_conversation_json(c), 'reason', 'new'))));
end
$$;

-- ---- Skills from channels and labels, declines that run out (#20 gaps) ----

-- A label's or a channel's requirement changed: the open conversations it
-- applies to take the new requirement. The caller (under the routing lock)
-- matches afterwards, since a requirement that shrank may let an agent with
-- room serve a waiting conversation.
create or replace function sb_refresh_label_terms(p_label text) returns void language sql as $$
  update conversations c set required_skills = sb_required_skills(c)
   where c.labels @> array[p_label] and c.state in ('queued', 'offered', 'assigned')
$$;
create or replace function sb_refresh_channel_terms(p_channel text) returns void language sql as $$
  update conversations c set required_skills = sb_required_skills(c)
   where c.channel = p_channel and c.state in ('queued', 'offered', 'assigned')
$$;

-- The sweep's step for declines: each waiting conversation whose last
-- decline or expiry (declined_at) is offer_timeout_s (its department's) old
-- or more has its declined_by list cleared, so every eligible agent may be
-- offered it again; conversation.queued, reason declines_cleared, names who
-- had declined. The caller drains the queue afterwards. Returns the events
-- (not logged: the caller logs them with its own).
create or replace function sb_clear_declines(p_now timestamptz) returns jsonb language plpgsql as $$
declare
  c conversations;
  was uuid[];
  v_events jsonb := '[]'::jsonb;
begin
  perform pg_advisory_xact_lock(7301001);
  for c in
    select x.* from conversations x
     where x.state = 'queued' and x.declined_at is not null and x.declined_by <> '{}'
       and x.declined_at + make_interval(secs => (sb_department_routing(x.department) ->> 'offer_timeout_s')::double precision) <= p_now
     order by x.priority desc, x.seq
       for update
  loop
    was := c.declined_by;
    update conversations x set declined_by = '{}', declined_at = null, updated_at = p_now where x.id = c.id returning * into c;
    v_events := v_events || sb_event('conversation.queued', c.id, null,
                  jsonb_build_object('conversation', sb_conversation_json(c), 'reason', 'declines_cleared', 'declined_by', to_jsonb(was)));
  end loop;
  return v_events;
end
$$;

-- ---- A chat message in one call (issue #22, "one round trip per change") ----

-- Not routing: no routing lock. It lives here because migrate() applies this
-- file, and because it logs its event with sb_log_events like the functions
-- above. A message is the hottest write of a live chat, and it was four
-- round trips (BEGIN, the checked insert, the first response, the event
-- with COMMIT); addMessage (src/conversations/messages.ts) now makes one.

-- A message as the API and events show it: toMessage in
-- src/conversations/messages.ts, every column with the timestamps as
-- JavaScript writes them. The two must stay alike: a column added to
-- messages is added here too (test/integration/message-call.test.ts compares
-- this with toMessage of the stored row). Each column named rather than
-- to_jsonb(m) with the timestamps laid over it: that converted the row, then
-- built and merged a second object, ≈ 12 against 8 µs a message (issue #22).
create or replace function sb_message_json(m messages) returns jsonb language sql stable as $$
  select jsonb_build_object(
    'id', m.id,
    'conversation_id', m.conversation_id,
    'sender', m.sender,
    'sender_id', m.sender_id,
    'text', m.text,
    'attachments', m.attachments,
    'created_at', sb_iso(m.created_at),
    'read_at', sb_iso(m.read_at),
    'private', coalesce(m.private, false),
    'updated_at', sb_iso(m.updated_at))
$$;

-- Stores a message on open conversation p_conversation and logs
-- message.created with it. The conversation's row is locked first: a
-- concurrent resolve cannot close it between the check and the insert, and
-- two messages of one conversation go one after the other — each writer of
-- a conversation's events holds its row to commit, so the event's
-- xid_bound, computed by the last statement after the lock, keeps them in
-- the log in commit order (src/events/log.ts). `no key update` rather than
-- `share`: it queues messages of the same chat, and one locker never needs
-- a multixact.
-- The insert happens only when the actor may write (p_sees_all, or the
-- conversation is p_actor's), it is open, and not an agent's message to an
-- offered conversation or a Qiscus room; otherwise nothing is written and
-- the answer says why: {state, agent_id, channel} of the conversation (the
-- caller names the refusal, access first). Null: no such conversation.
-- An agent's message stops the SLA clock (first_response_at; src/routing/sla.ts).
-- Written, the answer is {event}: message.created as the log holds it, the
-- message in the API's shape (sb_message_json) as its data; the caller
-- answers with that and hands the event to its listeners.
--
-- The hottest write of a live chat, so it does no more than that (issue
-- #22): one value back, not a set (no RETURN QUERY statement, no tuple
-- store, and the caller's `select sb_add_message(…)` is a plain function
-- call to parse and plan, where a set-returning call in FROM had its result
-- columns built again on every call); and its one event inserted directly,
-- the same five keys as sb_event and sb_log_events give it, rather than
-- through sb_log_events' array path (a PL/pgSQL call of its own, the array
-- taken apart, sorted, aggregated and its id set back with jsonb_set).
-- The insert into events stays the last statement (xid_bound, above).
-- The drop: the result's type changed, which create or replace cannot do;
-- the arguments are the same, so this drops and recreates it whenever the
-- file is applied.
drop function if exists sb_add_message(uuid, text, text, text, jsonb, timestamptz, boolean, uuid);
create or replace function sb_add_message(
  p_conversation uuid, p_sender text, p_sender_id text, p_text text, p_attachments jsonb, p_now timestamptz,
  p_sees_all boolean, p_actor uuid)
returns jsonb language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  v_state text;
  v_agent uuid;
  v_channel text;
  m messages;
  v_data jsonb;
  v_id bigint;
begin
  select x.state, x.agent_id, x.channel into v_state, v_agent, v_channel
    from conversations x where x.id = p_conversation for no key update;
  if not found then
    return null;
  end if;
  -- coalesce: an unassigned conversation's agent_id = p_actor is null, a refusal.
  if not coalesce(v_state in ('queued', 'offered', 'assigned') and (p_sees_all or v_agent = p_actor)
                  and not (v_state = 'offered' and p_sender = 'agent')
                  and not (v_channel = 'qiscus' and p_sender = 'agent'), false) then
    return jsonb_build_object('state', v_state, 'agent_id', v_agent, 'channel', v_channel);
  end if;
  insert into messages (conversation_id, sender, sender_id, text, attachments, created_at)
  values (p_conversation, p_sender, p_sender_id, p_text, p_attachments, p_now)
  returning * into m;
  if p_sender = 'agent' then
    update conversations x set first_response_at = p_now where x.id = p_conversation and x.first_response_at is null;
  end if;
  v_data := jsonb_build_object('message', sb_message_json(m));
  -- The event's agent is the conversation's holder: none while it is queued
  -- or only offered (agent_id names the agent deciding on the offer, who has
  -- not accepted it), so the offered agent's inbox hears nothing of it.
  insert into events (type, conversation_id, agent_id, data, created_at)
  values ('message.created', p_conversation, case when v_state = 'assigned' then v_agent end, v_data, p_now)
  returning id into v_id;
  return jsonb_build_object('event', jsonb_build_object(
    'id', v_id, 'type', 'message.created', 'conversation_id', p_conversation,
    'agent_id', case when v_state = 'assigned' then v_agent end, 'data', v_data));
end
$$;

-- A read receipt (markRead in src/conversations/messages.ts): marks the
-- listed messages of the other side of p_conversation as read, once each,
-- and logs message.read with the ids that changed, in one autocommit call as
-- sb_add_message does (a receipt follows nearly every message of a live
-- chat: it was a transaction of four round trips and a flush transaction
-- after it). The conversation's row is locked first, as for a message: the
-- receipt's event takes its place among the conversation's others in commit
-- order, and the events insert stays the last statement (xid_bound).
-- Null: no such conversation. {agent_id}: the actor may not read here (not
-- p_sees_all and not the conversation's agent); nothing is written.
-- {read}: the ids marked, ascending, and {event} beside them when any were.
create or replace function sb_mark_read(
  p_conversation uuid, p_ids bigint[], p_reader text, p_now timestamptz, p_sees_all boolean, p_actor uuid)
returns jsonb language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  v_agent uuid;
  v_read jsonb;
  v_data jsonb;
  v_id bigint;
begin
  select x.agent_id into v_agent from conversations x where x.id = p_conversation for no key update;
  if not found then
    return null;
  end if;
  if not (p_sees_all or coalesce(v_agent = p_actor, false)) then
    return jsonb_build_object('agent_id', v_agent);
  end if;
  with marked as (
    update messages m set read_at = p_now
     where m.conversation_id = p_conversation and m.id = any (p_ids) and m.read_at is null and not m.private
       and (case when p_reader = 'customer' then m.sender <> 'customer' else m.sender = 'customer' end)
    returning m.id)
  select coalesce(jsonb_agg(marked.id order by marked.id), '[]'::jsonb) into v_read from marked;
  if jsonb_array_length(v_read) = 0 then
    return jsonb_build_object('read', v_read);
  end if;
  v_data := jsonb_build_object('message_ids', v_read, 'reader', p_reader, 'read_at', sb_iso(p_now));
  insert into events (type, conversation_id, agent_id, data, created_at)
  values ('message.read', p_conversation, v_agent, v_data, p_now)
  returning id into v_id;
  return jsonb_build_object('read', v_read, 'event', jsonb_build_object(
    'id', v_id, 'type', 'message.read', 'conversation_id', p_conversation, 'agent_id', v_agent, 'data', v_data));
end
$$;

-- The widget customer ends the chat (src/realtime/sessions.ts, endSession):
-- the open conversation p_id is closed abandoned if no agent ever answered
-- it (queued, or only offered), resolved if assigned, and its session's
-- token ended (ended_at; readable until p_readable_until), in one call.
-- The state that picks abandoned or resolved must be the row's as the close
-- locks it, and the routing lock comes before that row lock, so neither this
-- function nor its caller may lock the row first. Instead it guesses from the
-- row as last committed (no lock), closes with the state the guess picks
-- through sb_close_conversation (which takes the lock itself, shared on its
-- fast path), and checks the guess against the row as the close locked it
-- (before_state): a conversation assigned or requeued in between makes the
-- guess wrong, and the block rolls back — the close, its match, its events
-- and every lock it took, the routing lock's included — and runs again with
-- what the close saw. Each retry follows a routing change committed in
-- between, so it ends. Idempotent: a closed conversation is left as it is
-- (closed is null, before_state says how it ended) and only the token is
-- ended. The session's row is written after the close: its lock comes after
-- the routing lock, as every row lock does.
create or replace function sb_end_chat(p_id uuid, p_now timestamptz, p_by text, p_readable_until timestamptz)
returns table (closed conversations, before_state text, before_agent_id uuid, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  v_assigned boolean;
  r record;
  v_found boolean := false;
begin
  select coalesce(x.state = 'assigned', false) into v_assigned from conversations x where x.id = p_id;
  v_assigned := coalesce(v_assigned, false);
  loop
    begin
      select * into r from sb_close_conversation(p_id, case when v_assigned then 'resolved' else 'abandoned' end,
                                                 p_now, 'customer', null, null, p_by);
      v_found := found;
      if v_found and (r.closed).id is not null and (r.before_state = 'assigned') <> v_assigned then
        raise sqlstate 'SB002' using message = 'the conversation was assigned or requeued since the guess';
      end if;
      exit;
    exception
      when sqlstate 'SB002' then
        v_assigned := not v_assigned;
    end;
  end loop;
  update customer_sessions s
     set ended_at = coalesce(s.ended_at, p_now), expires_at = least(s.expires_at, p_readable_until)
   where s.conversation_id = p_id;
  if v_found then
    return query select r.closed, r.before_state, r.before_agent_id, r.logged;
  end if;
end
$$;

-- A widget's session request found its chat waiting with nobody online who
-- could ever serve it (src/realtime/coordinator.ts): the chat is abandoned,
-- reason 'unavailableAttendants', as sb_close_conversation closes it (its
-- events the same), but only if that still holds under the locks. The
-- caller's first look is a read of its own, outside any lock: an agent who
-- came online after it (another process, a sweep, this one) was given the
-- chat at once, and closing on that look abandoned the ASSIGNED chat. Here
-- the routing lock comes first, shared: who is online, their capacity,
-- departments and skills, and the default capacity change only under it
-- exclusive (sb_update_agent, sb_resume_agent, sb_delete_agent, a settings
-- change), so none of them commits until this call has. Then the
-- conversation's row (a queued one has no agent, so there is no agent row
-- to lock before it), still queued, and the team sb_queue_team counts for
-- it, with the same terms as the first look (every overflow step, the
-- relaxation and a sticky wait's end taken as come), still without a slot.
-- The close then runs on its fast path, under the same shared lock (no
-- agent: no SB001, no head to take). Anything else leaves the chat as it is:
-- abandoned = false and the row as it now is, for the caller to announce;
-- no row when there is no such conversation.
create or replace function sb_abandon_unserved(p_id uuid, p_now timestamptz, p_by text)
returns table (conversation conversations, abandoned boolean, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  c conversations;
  r record;
begin
  perform pg_advisory_xact_lock_shared(7301001);
  select * into c from conversations x where x.id = p_id for update;
  if not found then
    return;
  end if;
  if c.state <> 'queued'
     or coalesce((sb_queue_team(c.department, c.required_skills, c.overflow, c.skills_relax_after_s is not null, null) ->> 'slots')::int, 0) > 0 then
    return query select c, false, '[]'::jsonb;
    return;
  end if;
  select * into r from sb_close_conversation(p_id, 'abandoned', p_now, 'unavailableAttendants', null, null, p_by);
  return query select r.closed, true, r.logged;
end
$$;

-- RapidPro's open ticket → room (src/channels/rapidpro/tickets.ts, openRoom),
-- in one call: a retried ticket gets its room back (outcome 'retried'); a
-- contact's room still open for an older ticket is closed first, reason
-- 'replaced' (RapidPro hears of it from its feed), so each contact token has
-- one open room; then the room is opened (sb_open_conversation) and its
-- ticket row written (outcome 'created').
-- Refusals raise, so that nothing of the call stays (a stale room closed
-- for a ticket that is then refused is open again): SQLSTATE SB010, the
-- ticketer does not exist (or was deleted meanwhile); SB011, the ticket id
-- is open on the channel for another ticketer or through the core API;
-- SB012, call again (below).
--
-- Locks, in this order. First the contact's lock (7301011, hash of the
-- ticketer and the token): the opens for one contact token run one at a
-- time, so the lookups of the same ticket and of a stale room are exact —
-- a room for a token is opened only here — and a retry racing its first
-- attempt waits for it and finds its ticket row. Nothing that holds the
-- routing lock ever waits for this one (only this function takes it, as
-- its first lock), so taking it before the routing lock inverts no order.
-- Then the routing lock, taken by sb_open_conversation: shared on its fast
-- path, the common case (no stale room). With a stale room there are two
-- routing calls, a close and an open; a close that took the lock shared and
-- an open that then needs it exclusive would upgrade, which deadlocks
-- against another such pair: so that rarer case takes it exclusive first
-- and looks again under it (no close can run beside it), and both calls
-- find it theirs. Last the ticketer's row, for share: deleteTicketer
-- (exclusive routing lock, then this row for update) either committed
-- before (the ticketer is gone: SB010) or waits for this commit and then
-- abandons the new room with the ticketer's others.
create or replace function sb_open_room(
  p_ticketer uuid, p_ticket text, p_token text, p_session_start text,
  p_customer_id text, p_customer jsonb, p_department text, p_priority int, p_now timestamptz
) returns table (opened conversations, outcome text, logged jsonb) language plpgsql as $$
#variable_conflict use_column
declare
  v_room uuid;
  v_stale uuid;
  r record;
  v_events jsonb := '[]'::jsonb;
begin
  perform pg_advisory_xact_lock(7301011, hashtext(p_ticketer::text || ':' || p_token));
  -- Unknown ticketer: refused before any routing (the locked check below is
  -- for a delete that commits meanwhile).
  if not exists (select 1 from rapidpro_ticketers k where k.uuid = p_ticketer) then
    raise sqlstate 'SB010' using message = 'unknown ticketer';
  end if;
  select t.conversation_id into v_room from rapidpro_tickets t where t.ticketer_uuid = p_ticketer and t.ticket_id = p_ticket;
  if found then
    return query select c, 'retried', '[]'::jsonb from conversations c where c.id = v_room;
    return;
  end if;
  if exists (select 1 from rapidpro_tickets t join conversations c on c.id = t.conversation_id
              where t.ticketer_uuid = p_ticketer and t.visitor_token = p_token and c.state in ('queued', 'offered', 'assigned')) then
    perform pg_advisory_xact_lock(7301001);
    select t.conversation_id into v_stale from rapidpro_tickets t join conversations c on c.id = t.conversation_id
     where t.ticketer_uuid = p_ticketer and t.visitor_token = p_token and c.state in ('queued', 'offered', 'assigned')
     order by t.created_at desc limit 1;
    if found then
      select * into r from sb_close_conversation(v_stale, 'resolved', p_now, 'replaced', null, null, null);
      v_events := coalesce(r.logged, '[]'::jsonb);
    end if;
  end if;
  -- The ticketer vouched for its contacts (its secret authenticated mailroom): customer_verified.
  select * into r from sb_open_conversation('rapidpro', p_ticket, p_customer_id, p_customer, p_department, p_priority,
                                            p_now, true, '{}'::jsonb);
  if not r.created then
    -- This ticketer's own ticket, opened meanwhile by a request that named
    -- another contact token (so it held another contact's lock): SB012 asks
    -- the caller to call again, which rolls this call back and finds the
    -- ticket's row first, as a retry does.
    if exists (select 1 from rapidpro_tickets t where t.ticketer_uuid = p_ticketer and t.ticket_id = p_ticket) then
      raise sqlstate 'SB012' using message = 'the ticket was opened meanwhile: call again';
    end if;
    raise sqlstate 'SB011' using message = 'the ticket is open for another ticketer';
  end if;
  perform 1 from rapidpro_ticketers k where k.uuid = p_ticketer for share;
  if not found then
    raise sqlstate 'SB010' using message = 'unknown ticketer';
  end if;
  insert into rapidpro_tickets (ticketer_uuid, ticket_id, visitor_token, conversation_id, session_start, created_at)
  values (p_ticketer, p_ticket, p_token, (r.opened).id, p_session_start, p_now);
  return query select r.opened, 'created', v_events || coalesce(r.logged, '[]'::jsonb);
end
$$;

-- ---- Queueing and matching under the lock shared: row-level decisions at capacity (#22) ----
-- At capacity every open queues and every close gives its freed slot to the
-- queue's head. Both held the routing lock exclusive, whose hold (0.4–0.7
-- ms: the rows a change writes) capped routing at 1,500–2,800 changes/s on
-- any machine (bench/RESULTS.md, "The floor, and what would pass
-- 10,000/s"). The two now run under the lock shared, and the race the
-- exclusive lock settled — an open queueing while a close frees a slot and
-- sees no queue (the lost wake-up) — meets on the agents' rows instead:
--
--   * a queueing open (sb_open_conversation) locks FOR SHARE, in id order,
--     the row of every agent who could serve it (online, not deleted,
--     sb_agent_serves: sb_lock_full_agents), checks on the locked rows that
--     none has room, and only then inserts the conversation queued. FOR
--     SHARE keeps every such row's load as it read it until it commits. One
--     with room (a close committed meanwhile) is never taken here: the
--     shared holder does not ask for the lock exclusive (two would wait on
--     each other), it raises SB001, rolls back and runs exclusive. So does
--     an open with more than sb_queue_lock_limit() such agents, before
--     locking any (the exclusive path is cheaper than that many locks).
--   * a close (sb_close_conversation) locks its agent's row FOR NO KEY
--     UPDATE — which waits for the opens that hold it shared — then its
--     conversation's row (the lock order, at the top of this file), and
--     only then, in a later statement (a snapshot of its own:
--     a VOLATILE function takes one per statement under READ COMMITTED;
--     test/integration/concurrency-capacity-rows.test.ts), reads the
--     queue's head for the agent and takes it FOR UPDATE SKIP LOCKED
--     (sb_take_head). With no head the slot is freed; with one the agent
--     takes it, the load unchanged.
--
-- Work-conserving, an open O queueing for agents A.. against a close C of
-- A's conversation: if O locked A first, C's lock waits for O's commit and
-- C's head read sees O's conversation; if C locked A first, O's share
-- waits for C's commit and sees A as C left it — full (C gave the slot to a
-- head), or with room, and O runs exclusive. Either way no commit leaves a
-- queued conversation beside an agent with room who serves it. The other
-- shared holders: a fast open takes an agent with room (skip locked: it
-- passes over the rows O holds) and never frees one; the Qiscus pass locks
-- its mirror agents FOR UPDATE before its rooms and only raises their loads,
-- so it makes no room (and waits on, or is waited on by, O on the row).
-- The exclusive paths exclude every shared holder, as before. Capacity:
-- loads change only under the agent's row lock, checked on the locked row.
-- Once: the conversation's row lock
-- (the head is locked FOR UPDATE and read queued again on the locked row).
--
-- Order: one at a time the head is exactly the queue's. Two closes in
-- flight take different heads (the second skips the first's locked head),
-- and a conversation queued by an open that commits after a later open's
-- may be served after it: approximate under concurrency, as the fast opens'
-- order already is. A close that skipped a locked head and finds no other
-- does not free its slot beside it (the holder may roll back): it runs
-- exclusive. Anything unusual keeps the exclusive path: a head with a skill
-- requirement (the pick's order starts with the score), in an offer-mode
-- department, with aging (the order moves with time), or with another agent
-- with room ahead in the pick's order (sb_agent_ahead); an open that ages.
--
-- Why nothing deadlocks. The routing lock is always the first lock taken,
-- and no shared holder asks for it exclusive (SB001 rolls the
-- subtransaction back first: its shared lock and its row locks go with it).
-- Row waits under the lock shared, each holder's in this order only:
--   queueing open: agent rows FOR SHARE (waits for a no-key-update holder:
--                  a fast open, a close, a heartbeat), then its new row (the
--                  unique index on open external_refs: another open of the
--                  same ref, which has taken all its agent locks by then).
--   fast open:     agent rows skip locked, so no wait; its new row as above.
--   close:         its agent's row, holding no row yet (an open that holds
--                  it shared or claimed it, another close of the agent, a
--                  heartbeat), then its conversation's row (a message
--                  writer, another close of it), then the head with SKIP
--                  LOCKED — which still waits when the head's updater
--                  commits during the lock attempt and a newer version is
--                  locked (heap_lock_updated_tuple ignores SKIP LOCKED), on
--                  another close that holds that head as its own
--                  conversation.
--   Qiscus pass:   its mirrors' rows in id order, then its rooms' in queue
--                  order (src/channels/qiscus/allocate.ts, decide).
-- A close that waits for its agent's row holds no row, so nothing waits for
-- it; a queueing open waits only for agents, in id order, and for closes
-- and claims that hold one agent and then wait only for conversations. A
-- close that waits for a conversation (its own, its head along the update
-- chain) waits for a close or a writer that holds that conversation, which
-- waits in turn only for conversations, never an agent: and along those
-- waits the snapshots the heads were read with only grow later (each head
-- was read queued after its close locked its own conversation, and each
-- wait is for a conversation assigned after the waiter's snapshot), so they
-- cannot close a cycle. Share locks do not conflict with each other, and
-- the key share of a row referencing an agent conflicts with neither FOR
-- SHARE nor FOR NO KEY UPDATE. So every wait goes agent row → conversation
-- row → commit, never back: no cycle (before the fix a close locked its
-- conversation first, and deadlocked: bench/RESULTS.md). An exclusive
-- waiter waits for the shared holders, who never wait for it.

-- At most this many agents' rows does a queueing open lock under the lock
-- shared (sb_lock_full_agents); beyond it the open decides under the lock
-- exclusive. Each lock writes the row's tuple header and WAL (and a
-- MultiXact when another open holds it too): with every online agent
-- locked, 1,000 agents made a queueing open's p99 179 ms where the
-- exclusive path gave 79 (bench/growth.ts --sizes=0), and at 16 clients
-- the row locks no longer paid (540 changes/s against 554 exclusive). Up
-- to 128 candidates they still do (+18–62 % changes/s at 64 and 128) and a
-- queueing open alone costs no more than the exclusive one; at 256, +32 %
-- but 0.3 ms more alone (bench/lock-hold.ts --agents=N; bench/RESULTS.md,
-- "Bounded row locks at capacity").
create or replace function sb_queue_lock_limit() returns int language sql immutable as $$
  select 128
$$;

-- Locks FOR SHARE, in id order, the rows of every agent who could serve
-- conversation c (as it arrives, not yet inserted), and says whether all
-- are full on the locked rows: a queueing open's test under the lock
-- shared. A loop, not one statement: the room test must run on the locked
-- rows, after the lock, never pushed into the locking scan. Every agent
-- who serves c is locked, whatever their load in this statement's
-- snapshot: one full there may have been freed by a close that committed
-- since, and the lock returns the row as that close left it. Status,
-- departments and skills change only under the lock exclusive, so the set
-- read here is the set at commit. Stops at the first with room (the open
-- then runs exclusive).
-- More than sb_queue_lock_limit() such agents: false before any lock, and
-- the open runs exclusive. They are counted first without locks, which is
-- exact for the same reason (the set is fixed while the lock is held
-- shared), and reads at most limit + 1 rows; a locking loop that stopped
-- at limit + 1 would lock as many rows only to roll them back. Mixing the
-- two paths per open is safe: the exclusive lock is granted only once no
-- transaction holds it shared, so the exclusive decision meets no
-- row-level queueing open or close in flight, and the shared ones that
-- follow see its commit (the lock order, at the top of this file, is kept:
-- the shared attempt's subtransaction, with its routing lock, rolls back
-- before the exclusive lock is asked for).
create or replace function sb_lock_full_agents(c conversations, p_now timestamptz) returns boolean language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  -- read at the first agent without a capacity of their own, if any
  v_default int;
  v_limit int := sb_queue_lock_limit();
  a agents;
begin
  if (select count(*) from (select 1 from agents x
                             where x.status = 'online' and x.deleted_at is null and sb_agent_serves(x, c, p_now)
                             limit v_limit + 1) n) > v_limit then
    return false;
  end if;
  for a in select x.* from agents x
            where x.status = 'online' and x.deleted_at is null and sb_agent_serves(x, c, p_now)
            order by x.id
              for share loop
    if a.capacity is null and v_default is null then
      v_default := sb_default_capacity();
    end if;
    if sb_has_room(a, v_default) then
      return false;
    end if;
  end loop;
  return true;
end
$$;

-- The first queued conversation agent `me` can serve, in queue order,
-- leaving out p_skip (heads a shared close could not lock): the query of
-- sb_head_for_agent (the four-argument form asks it with none left out).
-- p_manual null: not read by the caller; the query then asks sb_any_manual
-- itself, once (an InitPlan) and only if it reaches a conversation with a
-- department, where the shared close asked it at every close.
create or replace function sb_head_for_agent(p_now timestamptz, me agents, p_manual boolean, p_ages boolean, p_skip uuid[])
returns conversations language plpgsql stable
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  head conversations;
  v_skip uuid[] := p_skip;
  v_manual boolean := p_manual;
  v_ages boolean := p_ages;
begin
  -- Only what the agent could serve is read: conversations of their
  -- departments, without department, or with an overflow chain (the
  -- department clause of sb_agent_serves). A filter on the whole queue's
  -- order walked every queued conversation of other departments ahead.
  if v_ages then
    -- the order moves with p_now: the candidates are sorted
    select c.* into head
      from conversations c
     where c.state = 'queued'
       and (c.department = any (me.departments) or c.department is null or c.overflow <> '[]'::jsonb)
       and sb_agent_serves(me, c, p_now) and not (c.id = any (v_skip)) and (not coalesce(v_manual, (select sb_any_manual())) or c.department is null or sb_auto_routed(c))
     order by sb_effective_priority(c, p_now) desc, c.seq
     limit 1;
  else
    -- the first of the heads of each part, each an index walk in queue
    -- order (conversations_queue_by_department; conversations_queue_overflow,
    -- migration 0040)
    select h.* into head
      from (select x.*
              from unnest(me.departments) d (department)
             cross join lateral (
                   select c.* from conversations c
                    where c.state = 'queued' and c.department = d.department
                      and sb_agent_serves(me, c, p_now) and not (c.id = any (v_skip)) and (not coalesce(v_manual, (select sb_any_manual())) or sb_auto_routed(c))
                    order by c.priority desc, c.seq
                    limit 1) x
            union all
            -- ordered by the department too, though it is null for all:
            -- `department is null` is no equality to the planner, so
            -- ordered by (priority, seq) alone it read and sorted the
            -- whole department-less queue (a 10,000 backlog: 16 ms a close)
            -- instead of taking the first entry of the index
            (select c.* from conversations c
              where c.state = 'queued' and c.department is null and sb_agent_serves(me, c, p_now) and not (c.id = any (v_skip))
              order by c.department, c.priority desc, c.seq
              limit 1)
            union all
            (select c.* from conversations c
              where c.state = 'queued' and c.overflow <> '[]'::jsonb
                and sb_agent_serves(me, c, p_now) and not (c.id = any (v_skip)) and (not coalesce(v_manual, (select sb_any_manual())) or c.department is null or sb_auto_routed(c))
              order by c.priority desc, c.seq
              limit 1)) h
     order by h.priority desc, h.seq
     limit 1;
  end if;
  return head;
end
$$;


-- A close's give under the lock shared (sb_close_conversation, above), when
-- something is queued: the queue's head for agent `me` — whose row the
-- caller has locked, and who has room with the closed conversation's slot
-- freed — locked FOR NO KEY UPDATE
-- and read queued again on the locked row, when the policy gives it to
-- `me`; the null row when nothing queued is theirs (the caller frees the
-- slot). Raises SB001 (the exclusive path) for a head the policy might
-- give elsewhere or order otherwise (see the section's head), and when
-- heads were skipped as locked by others and none is left: freeing the
-- slot beside a head another transaction may yet roll back could leave it
-- waiting. A head locked by another (a close that took it, a message
-- writer) is left out and the next one asked, up to 32 times (the closes
-- of three processes' pools of 10 at once). Four, as it was, sent 1.4 % of the closes
-- at concurrency 16 to the exclusive path (bench/run.ts phase 3b, 7 of 500:
-- on two cores a close holding its head is often descheduled before its
-- commit), and each such close waits for every shared holder and holds up
-- every change behind it; a skipped head costs one more walk of the queue's
-- first entries.
create or replace function sb_take_head(p_now timestamptz, me agents) returns conversations language plpgsql
set plan_cache_mode = force_generic_plan as $$
declare
  -- manual mode: left to the head's query (p_manual null), which asks only
  -- when it reaches a conversation with a department
  v_manual boolean := null;
  v_ages boolean;
  v_skip uuid[] := '{}';
  v_id uuid;
  head conversations;
begin
  -- Called only with something queued: with nothing, as most closes below
  -- capacity find, the close asks no head at all (sb_close_conversation),
  -- and the head's query (three index walks in one plan, whose set-up was
  -- most of its cost) and the aging probe are not run.
  v_ages := sb_queue_ages();
  for i in 1 .. 32 loop
    head := sb_head_for_agent(p_now, me, v_manual, v_ages, v_skip);
    if head.id is null then
      if cardinality(v_skip) > 0 then
        perform sb_exclusive_path();
      end if;
      return head;
    end if;
    if v_ages or head.required_skills <> '{}'::jsonb
       or (head.department is not null and sb_department_routing(head.department) ->> 'mode' <> 'auto')
       or sb_agent_ahead(head, p_now, me) then
      perform sb_exclusive_path();
    end if;
    v_id := head.id;
    -- By the key alone, queued asked of the locked row: with the state in
    -- the WHERE, the generic plan on a conversations table without
    -- statistics walked a queue index (conversations_by_state_unheld: every
    -- queued conversation created before the head, of any department)
    -- instead of the key (issue #22). A head given away since the query is
    -- then locked too, until commit, though not taken: this transaction
    -- waits for no row lock after it (heads are locked skip locked, the
    -- agent's and the closed conversation's rows are already held), so no
    -- wait can cycle through it; a writer of that conversation waits for
    -- the commit, as it would for its taker's. For no key update, the
    -- mode the head's own update takes: another close's lock or a
    -- message's still makes it skip the head, but not the key share of a
    -- foreign key's check (an agent's read marker on a waiting
    -- conversation, a customer's session), which `for update` conflicted
    -- with and so gave the slot to the next in line.
    select * into head from conversations x where x.id = v_id for no key update skip locked;
    if found then
      if head.state = 'queued' then
        return head;
      end if;
    -- locked by another transaction: skipped if still queued as last committed
    elsif (select x.state = 'queued' from conversations x where x.id = v_id) then
      v_skip := v_skip || v_id;
    end if;
  end loop;
  perform sb_exclusive_path();
end
$$;

-- Queue place: a queued conversation's place and what its expected wait
-- needs, as functions: src/routing/queue.ts reads the queue with them, and
-- sb_queue_place answers a queueing open with them in the open's round trip,
-- where the HTTP reply used to take two more after the commit (the place,
-- then the business hours).

-- Whether a conversation's skill requirement is dropped at p_at (its
-- skills_relax_after_s and queued_at). Columns, not the row: the queue
-- listings pass rows with columns of their own.
create or replace function sb_skills_relaxed(p_relax_after_s int, p_queued_at timestamptz, p_at timestamptz) returns boolean language sql immutable as $$
  select p_relax_after_s is not null and greatest(p_at, p_queued_at) >= p_queued_at + make_interval(secs => p_relax_after_s)
$$;

-- The agent a sticky wait holds a conversation for at p_at (its sticky_until
-- and sticky_agent_id), or null.
create or replace function sb_sticky_wait_agent(p_until timestamptz, p_agent uuid, p_at timestamptz) returns uuid language sql immutable as $$
  select case when p_until is not null and p_at < p_until then p_agent end
$$;

-- The agents who could serve a queued conversation with these terms, as
-- sb_agent_serves will see it while it waits, room aside: its department's
-- and those of every department it overflows to, with the skills it
-- requires unless the requirement is dropped, during a sticky wait only the
-- customer's last agent. Their slots (online), free slots (online:
-- capacity − load, an offered conversation holding its slot) and all their
-- slots (online or not), for the expected wait (src/business-hours/wait.ts).
-- The common terms, a department or none and nothing else (no overflow
-- chain, no requirement or a dropped one, no sticky wait), are each one
-- statement whose generic plan is kept for the session: the department
-- the only parameter, so the plan is the same whatever it is, and each
-- agent costs the sums alone. force_custom_plan, for all terms, planned
-- the statement again at every call, a third of a place read (bench/open-probe.ts).
-- Other terms are planned for the values at hand (EXECUTE), which folds
-- away the conditions that do not apply. An agent without a capacity of their own
-- has the default's, read by an InitPlan at most once (as sb_pick_agent
-- does, see sb_has_room), not sb_capacity's call per agent and sum: with
-- 1,000 such agents that was 3,000 PL/pgSQL calls, 7.8 ms a place read
-- against 0.3 ms for agents with capacities of their own.
create or replace function sb_queue_team(
  p_department text, p_required_skills jsonb, p_overflow jsonb, p_relaxed boolean, p_sticky_agent uuid
) returns jsonb language plpgsql stable set plan_cache_mode = force_generic_plan as $$
declare
  v_team jsonb;
begin
  -- Our own agents only (source null): a channel's mirrors, offline as its
  -- allocator makes them, never take our conversations, so they are not in
  -- the team expected at the opening either.
  if p_sticky_agent is null and coalesce(p_overflow, '[]'::jsonb) = '[]'::jsonb and (p_required_skills = '{}'::jsonb or p_relaxed) then
    if p_department is null then
      return (
        select jsonb_build_object(
                 'slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))) filter (where a.status = 'online'), 0),
                 'free', coalesce(sum(greatest(0, coalesce(a.capacity, (select sb_default_capacity())) - a.load)) filter (where a.status = 'online'), 0),
                 'team_slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))), 0))
          from agents a
         where a.deleted_at is null and a.source is null);
    end if;
    return (
      select jsonb_build_object(
               'slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))) filter (where a.status = 'online'), 0),
               'free', coalesce(sum(greatest(0, coalesce(a.capacity, (select sb_default_capacity())) - a.load)) filter (where a.status = 'online'), 0),
               'team_slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))), 0))
        from agents a
       where a.deleted_at is null and a.source is null and p_department = any (a.departments));
  end if;
  execute $q$
    select jsonb_build_object(
             'slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))) filter (where a.status = 'online'), 0),
             'free', coalesce(sum(greatest(0, coalesce(a.capacity, (select sb_default_capacity())) - a.load)) filter (where a.status = 'online'), 0),
             'team_slots', coalesce(sum(coalesce(a.capacity, (select sb_default_capacity()))), 0))
      from agents a
     where a.deleted_at is null and a.source is null
       and ($1 is null or $1 = any (a.departments)
            or exists (select 1 from jsonb_array_elements($3) r where r ->> 'to' = any (a.departments)))
       and ($2 = '{}'::jsonb or $4
            or not exists (select 1 from jsonb_each_text($2) r where coalesce((a.skills ->> r.key)::int, 0) < r.value::int))
       and ($5 is null or a.id = $5)$q$
    into v_team using p_department, p_required_skills, p_overflow, p_relaxed, p_sticky_agent;
  return v_team;
end
$$;

-- Mean handle time of the last 100 resolved conversations, s; p_default
-- before any was resolved.
create or replace function sb_recent_handle_s(p_default float8) returns float8 language sql stable as $$
  select coalesce(avg(extract(epoch from (resolved_at - assigned_at))), p_default)::float8
    from (select resolved_at, assigned_at from conversations
           where state = 'resolved' and assigned_at is not null
           order by resolved_at desc limit 100) recent
$$;

-- The place of queued conversation c in its department's queue (the
-- department-less ones form their own), 1 = next: 1 + how many of that queue
-- are ahead of it in serving order (effective priority desc, seq), counted
-- on conversations_queue_by_department. Without aging (p_ages: sb_queue_ages(),
-- read once by the caller) the entries before its (priority, seq) key, two
-- index ranges: a higher priority; the same one, earlier. The priority as a
-- range, not an equality: with equal department and priority the planner
-- took conversations_seq_key as the order too and walked it back through the
-- whole queue. Each count is in the index's order so that the planner walks
-- conversations_queue_by_department on all three keys: left to itself it
-- walked conversations_seq_key back past every other department's queue.
-- With aging, the department's queue computed at p_at. The two counts are
-- one statement (two InitPlans) whose generic plan is kept for the session
-- (force_generic_plan): it walks the index on all three keys with the
-- values as parameters, as the custom plans did, which planned both counts
-- again at every call (0.37 against 0.15 ms for the 550th of 600 queued;
-- 1.3–1.7 against 1.5–2.0 ms for the 8,000th of 10,000). The count is still
-- one index entry per conversation ahead: O(queue).
create or replace function sb_queue_position(c conversations, p_at timestamptz, p_ages boolean) returns int
language plpgsql stable set plan_cache_mode = force_generic_plan as $$
begin
  if not p_ages and c.department is not null then
    return 1 + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department = c.department and x.priority > c.priority
                                       order by x.department, x.priority desc, x.seq) x)
             + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department = c.department
                                         and x.priority >= c.priority and x.priority <= c.priority and x.seq < c.seq
                                       order by x.department, x.priority desc, x.seq) x);
  elsif not p_ages then
    return 1 + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department is null and x.priority > c.priority
                                       order by x.department, x.priority desc, x.seq) x)
             + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department is null
                                         and x.priority >= c.priority and x.priority <= c.priority and x.seq < c.seq
                                       order by x.department, x.priority desc, x.seq) x);
  elsif c.department is not null then
    return 1 + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department = c.department
                                         and (sb_effective_priority(x, p_at) > sb_effective_priority(c, p_at)
                                              or (sb_effective_priority(x, p_at) = sb_effective_priority(c, p_at) and x.seq < c.seq))
                                       order by x.department, x.priority desc, x.seq) x);
  else
    return 1 + (select count(*) from (select from conversations x
                                       where x.state = 'queued' and x.department is null
                                         and (sb_effective_priority(x, p_at) > sb_effective_priority(c, p_at)
                                              or (sb_effective_priority(x, p_at) = sb_effective_priority(c, p_at) and x.seq < c.seq))
                                       order by x.department, x.priority desc, x.seq) x);
  end if;
end
$$;

-- The place of conversation p_id when it waits, and what its expected wait
-- needs; no row when it does not wait (any more). What an open that queued
-- answers with (POST /api/v1/conversations), read by the statement after
-- the open's COMMIT in the same round trip (Db.transactOneThen): outside
-- the routing lock, with a snapshot that sees the open and every change
-- committed before the read (docs/api.md, "Queue position at creation").
-- p_id null (the open left none): no row. The expected wait is reckoned in
-- src/routing/queue.ts from queue_team, queue_handle_s and queue_hours (the
-- business hours; null: none stored).
drop function if exists sb_open_conversation_placed(text, text, text, jsonb, text, int, timestamptz, boolean, jsonb, float8);
create or replace function sb_queue_place(p_id uuid, p_now timestamptz, p_default_handle_s float8)
returns table (queue_position int, queue_team jsonb, queue_handle_s float8, queue_hours jsonb)
language plpgsql stable as $$
declare
  c conversations;
begin
  -- By the key alone, queued asked after: with the state in the WHERE, the
  -- plan on a conversations table without statistics walked a queue index
  -- (conversations_queued_since) over every conversation queued before
  -- this one (issue #22).
  select * into c from conversations x where x.id = p_id;
  if not found or c.state <> 'queued' then
    return;
  end if;
  queue_position := sb_queue_position(c, p_now, sb_queue_ages());
  queue_team := sb_queue_team(c.department, c.required_skills, c.overflow, sb_skills_relaxed(c.skills_relax_after_s, c.queued_at, p_now),
                              sb_sticky_wait_agent(c.sticky_until, c.sticky_agent_id, p_now));
  -- sb_recent_handle_s's query, here rather than called: a SQL function
  -- that cannot be inlined (it has a FROM) is parsed and planned again at
  -- every call, a fifth of a place read (bench/open-probe.ts); PL/pgSQL
  -- keeps this one's plan for the session.
  queue_handle_s := (select coalesce(avg(extract(epoch from (r.resolved_at - r.assigned_at))), p_default_handle_s)::float8
                       from (select x.resolved_at, x.assigned_at from conversations x
                              where x.state = 'resolved' and x.assigned_at is not null
                              order by x.resolved_at desc limit 100) r);
  queue_hours := (select b.hours from business_hours b);
  return next;
end
$$;

-- Repairs of what earlier versions let through and the functions above now
-- refuse, run here rather than in a numbered migration because they route
-- (a migration runs before this file, with whichever functions an earlier
-- version left, or none). Each acts only on rows the rules now forbid, so
-- running it again, whenever this file changes, finds nothing to do.
--
-- A conversation of another channel held by a channel's agent (a Qiscus
-- mirror an admin had set online or moved to other departments before
-- migration 0080): nobody can answer it there, and no grace period moves it
-- (mirrors are skipped, their rooms are the channel's). Back to the queue
-- at its place (reason channel_agent), then the queue drains.
do $$
declare
  v_now timestamptz := now();
  v_events jsonb;
begin
  if exists (select 1 from agents a join conversations c on c.agent_id = a.id
              where a.source is not null and c.state in ('assigned', 'offered') and c.channel <> a.source) then
    perform pg_advisory_xact_lock(7301001);
    v_events := sb_requeue_events(v_now, array(
      select c.id from agents a join conversations c on c.agent_id = a.id
       where a.source is not null and c.state in ('assigned', 'offered') and c.channel <> a.source), '{}', 'channel_agent', false, null);
    perform sb_log_events(v_now, v_events || sb_drain_events(v_now));
  end if;
end
$$;
