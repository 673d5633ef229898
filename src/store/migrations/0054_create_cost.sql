-- Fewer index entries and trigger checks for every new conversation
-- (issue #22: create → assigned and the simulator are CPU-bound, and what is
-- left of an open in PostgreSQL is executor start-up, index entries,
-- constraint and trigger checks).
--
-- conversations_by_state (state, created_at) held every conversation, so
-- every open wrote an entry into it, and every close another (the close
-- changes state). Its readers name queued, offered or abandoned
-- conversations (the dashboard's queue: state in ('queued', 'offered'); a
-- listing filtered by state); assigned ones are counted and listed by
-- conversations_by_agent (state = 'assigned') and resolved ones by
-- conversations_recently_resolved or, newest first, the seq walk. So the
-- index keeps only the states no other index covers: an assigned open
-- and a resolve write nothing into it.
create index conversations_by_state_unheld on conversations (state, created_at)
  where state <> 'assigned' and state <> 'resolved';
drop index conversations_by_state;

-- A customer's email typed whole (src/search/sql.ts: lower(customer ->>
-- 'email') = lower($1)) finds only conversations with an email; the
-- others (API, Qiscus, RapidPro opens mostly) were indexed under null. The
-- query's strict `=` implies the predicate, so the planner still uses it.
create index conversations_customer_email_given on conversations (lower(customer ->> 'email'))
  where lower(customer ->> 'email') is not null;
drop index conversations_customer_email;

-- agents_notify_auth_changed (migration 0047) fires only when role or
-- deleted_at changes, but its WHEN was read and evaluated for every
-- update of an agent, the load's at every assignment and close among
-- them. Limited to updates that set those columns, PostgreSQL passes it
-- over on the column list alone; an update that sets them still fires
-- only on an actual change.
drop trigger agents_notify_auth_changed on agents;
create trigger agents_notify_auth_changed
  after update of role, deleted_at on agents
  for each row
  when (old.role is distinct from new.role or old.deleted_at is distinct from new.deleted_at)
  execute function notify_auth();
