-- Sticky agents, aging and first-response SLAs (issue #20, items 1 and 3).
-- The policy that reads these columns is in src/routing/functions.sql; the
-- department settings that fill them are sb_department_routing's.

alter table conversations
  -- a returning customer's conversation waiting for their last agent: until
  -- sticky_until only sticky_agent_id may take it (sb_agent_serves)
  add column sticky_agent_id   uuid references agents (id),
  add column sticky_until      timestamptz,
  -- the department's aging rate when the conversation arrived: priority
  -- gained per minute queued. Kept on the row so ordering the queue reads
  -- no settings, and 0 (the default) keeps the plain (priority, seq) order.
  add column aging_per_min     float8 not null default 0,
  -- first-response SLA: due at created_at + the department's target (null:
  -- none); first_response_at is the first agent message; sla_breached_at
  -- when conversation.sla_breached was raised, so it is raised once
  add column sla_due_at        timestamptz,
  add column first_response_at timestamptz,
  add column sla_breached_at   timestamptz;

-- the sticky look-up: a verified customer's most recent closed conversations
create index conversations_last_closed_by_customer on conversations (customer_id, resolved_at desc)
  where state in ('resolved', 'abandoned') and customer_verified;
-- whether any queued conversation ages at all: when none does (the
-- default) the queue is read in the conversations_queue index's order
create index conversations_queue_aging on conversations (seq) where state = 'queued' and aging_per_min > 0;
-- the sweep's SLA look-up: open, unanswered, not yet breached, by due time.
-- A closed conversation leaves it (a close past the due time raises the
-- breach itself: sb_close_conversation).
create index conversations_sla_pending on conversations (sla_due_at)
  where sla_due_at is not null and first_response_at is null and sla_breached_at is null and resolved_at is null;
-- the dashboard's SLA figures for today (src/stats/dashboard.ts): replies
-- due today, breaches raised today
create index conversations_sla_by_due on conversations (sla_due_at) where sla_due_at is not null;
create index conversations_sla_breached on conversations (sla_breached_at) where sla_breached_at is not null;
