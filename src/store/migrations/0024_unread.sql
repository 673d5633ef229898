-- Issue #17 item 7: unread counts and notification preferences, per agent.

-- How far each agent has read each conversation: a supervisor reading a
-- conversation does not clear its holder's unread count, so the marker is
-- per agent rather than messages.read_at (which is the customer's receipt).
create table conversation_reads (
  agent_id             uuid not null references agents (id),
  conversation_id      uuid not null references conversations (id),
  last_read_message_id bigint not null,
  read_at              timestamptz not null,
  primary key (agent_id, conversation_id)
);

-- Unread = the customer's messages after the marker: one index range per
-- conversation of a listed page.
create index messages_from_customer on messages (conversation_id, id) where sender = 'customer';

-- Sound and desktop notification, for a new assignment and for a new
-- customer message; no row = the defaults (all on).
create table notification_preferences (
  agent_id           uuid primary key references agents (id),
  assignment_sound   boolean not null,
  assignment_desktop boolean not null,
  message_sound      boolean not null,
  message_desktop    boolean not null,
  updated_at         timestamptz not null
);
