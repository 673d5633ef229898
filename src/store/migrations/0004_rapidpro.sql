-- RapidPro ticketers: a RapidPro workspace hands contacts over to
-- Switchboard agents. A ticket is a conversation (channel 'rapidpro',
-- external_ref = ticket id); these tables hold what the conversation does
-- not: which ticketer and contact token it belongs to, and which callbacks
-- in the outbound outbox are that ticketer's.

create table rapidpro_ticketers (
  -- the last segment of the base URL RapidPro is given
  uuid          uuid primary key,
  name          text,
  -- sent by RapidPro as "Authorization: Token <secret>" and sent back on callbacks
  secret        text not null,
  -- set by RapidPro with PUT {base}/settings; null until it connects
  callback_url  text,
  created_by    uuid,
  created_at    timestamptz not null,
  updated_at    timestamptz not null
);

create table rapidpro_tickets (
  ticketer_uuid   uuid not null references rapidpro_ticketers (uuid) on delete cascade,
  -- RapidPro's ticket UUID: a retried open with the same id answers this row's room
  ticket_id       text not null,
  -- the contact id RapidPro addresses the room by (one open room per token)
  visitor_token   text not null,
  conversation_id uuid not null unique references conversations (id),
  session_start   text,
  created_at      timestamptz not null,
  primary key (ticketer_uuid, ticket_id)
);
create index rapidpro_tickets_by_token on rapidpro_tickets (ticketer_uuid, visitor_token, created_at desc);

-- Which outbound requests are a ticketer's callbacks: its delivery log.
create table rapidpro_callbacks (
  request_id    bigint primary key references outbound_requests (id) on delete cascade,
  ticketer_uuid uuid not null references rapidpro_ticketers (uuid) on delete cascade,
  ticket_id     text not null
);
create index rapidpro_callbacks_by_ticketer on rapidpro_callbacks (ticketer_uuid, request_id);

-- The callback feed reads the event log from here; earlier events are history.
insert into outbox_cursors (name, last_event_id) select 'rapidpro', coalesce(max(id), 0) from events;
