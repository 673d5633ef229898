-- A queued conversation's place and what its expected wait needs, as SQL
-- functions: src/routing/queue.ts reads the queue with them, and
-- sb_open_conversation_placed answers a queueing open with them in the same
-- call, where the HTTP reply used to take two more round trips after the
-- commit (the place, then the business hours).
--
-- They name routing functions (sb_capacity, sb_effective_priority) that
-- routing/functions.sql creates after the numbered migrations on a fresh
-- store: checked when called, not now.
set local check_function_bodies = off;

-- Whether a conversation's skill requirement is dropped at p_at (its
-- skills_relax_after_s and queued_at). Columns, not the row: the queue
-- listings pass rows with columns of their own.
create or replace function sb_skills_relaxed(p_relax_after_s int, p_queued_at timestamptz, p_at timestamptz) returns boolean language sql immutable as $$
  select p_relax_after_s is not null and p_at >= p_queued_at + make_interval(secs => p_relax_after_s)
$$;

-- The agent a sticky wait holds a conversation for at p_at (its sticky_until
-- and sticky_agent_id), or null.
create or replace function sb_sticky_agent(p_until timestamptz, p_agent uuid, p_at timestamptz) returns uuid language sql immutable as $$
  select case when p_until is not null and p_at < p_until then p_agent end
$$;

-- The agents who could serve a queued conversation with these terms, as
-- sb_agent_serves will see it while it waits, room aside: its department's
-- and those of every department it overflows to, with the skills it
-- requires unless the requirement is dropped, during a sticky wait only the
-- customer's last agent. Their slots (online), free slots (online:
-- capacity − load, an offered conversation holding its slot) and all their
-- slots (online or not), for the expected wait (src/business-hours/wait.ts).
-- Planned for the terms at hand (force_custom_plan), which folds away the
-- conditions that do not apply.
create or replace function sb_queue_team(
  p_department text, p_required_skills jsonb, p_overflow jsonb, p_relaxed boolean, p_sticky_agent uuid
) returns jsonb language plpgsql stable set plan_cache_mode = force_custom_plan as $$
begin
  return (
    select jsonb_build_object(
             'slots', coalesce(sum(sb_capacity(a)) filter (where a.status = 'online'), 0),
             'free', coalesce(sum(greatest(0, sb_capacity(a) - a.load)) filter (where a.status = 'online'), 0),
             'team_slots', coalesce(sum(sb_capacity(a)), 0))
      from agents a
     where a.deleted_at is null
       and (p_department is null or p_department = any (a.departments)
            or exists (select 1 from jsonb_array_elements(p_overflow) r where r ->> 'to' = any (a.departments)))
       and (p_required_skills = '{}'::jsonb or p_relaxed
            or not exists (select 1 from jsonb_each_text(p_required_skills) r where coalesce((a.skills ->> r.key)::int, 0) < r.value::int))
       and (p_sticky_agent is null or a.id = p_sticky_agent));
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
-- With aging, the department's queue computed at p_at. Planned for the
-- values at hand (force_custom_plan): PostgreSQL's generic plan for these
-- counts, as a SQL function gets, took twice as long (4.5 against 2.0 ms
-- for the 8,000th of 10,000 queued).
create or replace function sb_queue_position(c conversations, p_at timestamptz, p_ages boolean) returns int
language plpgsql stable set plan_cache_mode = force_custom_plan as $$
declare
  n bigint;
  m bigint;
begin
  if not p_ages and c.department is not null then
    select count(*) into n from (select from conversations x
                                  where x.state = 'queued' and x.department = c.department and x.priority > c.priority
                                  order by x.department, x.priority desc, x.seq) x;
    select count(*) into m from (select from conversations x
                                  where x.state = 'queued' and x.department = c.department
                                    and x.priority >= c.priority and x.priority <= c.priority and x.seq < c.seq
                                  order by x.department, x.priority desc, x.seq) x;
  elsif not p_ages then
    select count(*) into n from (select from conversations x
                                  where x.state = 'queued' and x.department is null and x.priority > c.priority
                                  order by x.department, x.priority desc, x.seq) x;
    select count(*) into m from (select from conversations x
                                  where x.state = 'queued' and x.department is null
                                    and x.priority >= c.priority and x.priority <= c.priority and x.seq < c.seq
                                  order by x.department, x.priority desc, x.seq) x;
  elsif c.department is not null then
    m := 0;
    select count(*) into n from (select from conversations x
                                  where x.state = 'queued' and x.department = c.department
                                    and (sb_effective_priority(x, p_at) > sb_effective_priority(c, p_at)
                                         or (sb_effective_priority(x, p_at) = sb_effective_priority(c, p_at) and x.seq < c.seq))
                                  order by x.department, x.priority desc, x.seq) x;
  else
    m := 0;
    select count(*) into n from (select from conversations x
                                  where x.state = 'queued' and x.department is null
                                    and (sb_effective_priority(x, p_at) > sb_effective_priority(c, p_at)
                                         or (sb_effective_priority(x, p_at) = sb_effective_priority(c, p_at) and x.seq < c.seq))
                                  order by x.department, x.priority desc, x.seq) x;
  end if;
  return (1 + n + m)::int;
end
$$;

-- sb_open_conversation, and when the conversation waits (new or already
-- open), its place and what its expected wait needs: one round trip for the
-- HTTP reply (POST /api/v1/conversations). Read by statements of their own
-- after the open, so with a snapshot that sees the open's own row and every
-- change committed before them; a queueing open holds the routing lock
-- shared, so an open queued alongside it and not committed yet is not
-- counted: the place can repeat or skip under concurrency (docs/api.md,
-- "Queue position at creation"). The expected wait is reckoned in src/routing/queue.ts
-- from queue_team, queue_handle_s and queue_hours (the business hours;
-- null: none stored).
create or replace function sb_open_conversation_placed(
  p_channel text, p_external_ref text, p_customer_id text, p_customer jsonb, p_department text,
  p_priority int, p_now timestamptz, p_verified boolean, p_required_skills jsonb, p_default_handle_s float8
) returns table (opened conversations, created boolean, logged jsonb,
                 queue_position int, queue_team jsonb, queue_handle_s float8, queue_hours jsonb)
language plpgsql as $$
#variable_conflict use_column
declare
  o record;
  c conversations;
begin
  select * into o from sb_open_conversation(p_channel, p_external_ref, p_customer_id, p_customer, p_department,
                                            p_priority, p_now, p_verified, p_required_skills);
  c := o.opened;
  opened := c;
  created := o.created;
  logged := o.logged;
  if c.state = 'queued' then
    queue_position := sb_queue_position(c, p_now, sb_queue_ages());
    queue_team := sb_queue_team(c.department, c.required_skills, c.overflow, sb_skills_relaxed(c.skills_relax_after_s, c.queued_at, p_now),
                                 sb_sticky_agent(c.sticky_until, c.sticky_agent_id, p_now));
    queue_handle_s := sb_recent_handle_s(p_default_handle_s);
    queue_hours := (select b.hours from business_hours b);
  end if;
  return next;
end
$$;

reset check_function_bodies;
