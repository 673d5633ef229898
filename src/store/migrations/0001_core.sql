-- Switchboard core: agents, conversations, messages, the event log, settings
-- and login tokens. Every timestamp is written by the application's clock
-- (passed as a parameter) so the simulator can run the same SQL on a virtual
-- clock.

create table agents (
  id               uuid primary key default gen_random_uuid(),
  name             text not null,
  email            text not null,
  password_hash    text not null,
  role             text not null check (role in ('admin', 'supervisor', 'agent')),
  status           text not null default 'offline' check (status in ('online', 'away', 'offline')),
  -- null: the global max_customers setting applies
  capacity         integer check (capacity is null or capacity >= 0),
  departments      text[] not null default '{}',
  external_ref     text,
  -- conversations currently assigned; kept in the same transactions that
  -- assign and release them (checked against a count by the tests) so the
  -- capacity check is one row read instead of a count per candidate
  load             integer not null default 0 check (load >= 0),
  last_assigned_at timestamptz,
  last_seen_at     timestamptz,
  offline_since    timestamptz,
  -- the status a heartbeat restores after a keep-alive timeout set the agent offline
  resume_status    text check (resume_status in ('online', 'away')),
  created_at       timestamptz not null,
  updated_at       timestamptz not null,
  deleted_at       timestamptz
);
create unique index agents_email_key on agents (lower(email)) where deleted_at is null;
create index agents_presence on agents (status, last_seen_at) where deleted_at is null;
-- the allocation policy's order (least load, idle longest, id): picking an
-- agent walks this index to the first one with room instead of sorting
create index agents_pick on agents (load, last_assigned_at nulls first, id) where status = 'online' and deleted_at is null;

create table conversations (
  id             uuid primary key default gen_random_uuid(),
  -- arrival order, the FIFO key; a re-queued conversation keeps it and so
  -- goes back to its original place
  seq            bigint generated always as identity unique,
  channel        text not null check (channel in ('widget', 'qiscus', 'rapidpro', 'api', 'mqtt')),
  external_ref   text,
  customer_id    text not null,
  customer       jsonb not null,
  department     text,
  priority       integer not null default 0,
  state          text not null check (state in ('queued', 'assigned', 'resolved', 'abandoned')),
  agent_id       uuid references agents (id),
  created_at     timestamptz not null,
  queued_at      timestamptz,
  assigned_at    timestamptz,
  resolved_at    timestamptz,
  resolve_reason text,
  note           text,
  updated_at     timestamptz not null,
  -- an assigned conversation has its agent; a queued one has none; a closed
  -- one keeps the agent who last held it
  check (state <> 'assigned' or agent_id is not null),
  check (state <> 'queued' or agent_id is null)
);
create index conversations_queue on conversations (priority desc, seq) where state = 'queued';
create index conversations_by_agent on conversations (agent_id) where state = 'assigned';
create index conversations_by_state on conversations (state, created_at);
create index conversations_by_customer on conversations (customer_id, created_at);
create index conversations_recently_resolved on conversations (resolved_at desc) where state = 'resolved';
create unique index conversations_open_external_ref
  on conversations (channel, external_ref)
  where external_ref is not null and state in ('queued', 'assigned');

create table messages (
  id              bigint generated always as identity primary key,
  conversation_id uuid not null references conversations (id),
  sender          text not null check (sender in ('customer', 'agent', 'system', 'bot')),
  sender_id       text,
  text            text,
  attachments     jsonb not null default '[]',
  created_at      timestamptz not null,
  read_at         timestamptz
);
create index messages_by_conversation on messages (conversation_id, id);

-- Immutable record of everything that happened, written in the transaction
-- that made it happen. Writers hold the events advisory lock until commit, so
-- ids become visible in increasing order and `after=<id>` never skips one.
create table events (
  id              bigint generated always as identity primary key,
  type            text not null,
  conversation_id uuid,
  agent_id        uuid,
  data            jsonb not null,
  created_at      timestamptz not null
);
create index events_by_conversation on events (conversation_id, id);

create table settings (
  key        text primary key,
  value      jsonb not null,
  updated_at timestamptz not null
);

create table auth_tokens (
  token_hash text primary key,
  agent_id   uuid not null references agents (id),
  created_at timestamptz not null,
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index auth_tokens_by_agent on auth_tokens (agent_id);

-- One row per server connection, updated after a routing commit to make the
-- log durable up to it (see groupCommit in src/store/db.ts).
create table wal_flush (
  pid integer primary key,
  n   bigint not null
);
