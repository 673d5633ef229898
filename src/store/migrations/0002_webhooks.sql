-- Outgoing webhooks and the durable outbound-HTTP outbox they feed.
--
-- outbound_requests is generic: webhooks are one producer, and the Qiscus and
-- RapidPro callbacks are meant to be others. A row is one HTTP request that
-- must eventually be sent: its exact body bytes, the key that orders it
-- against its siblings, and its retry state. Every attempt is logged in
-- outbound_attempts. Timestamps come from the application's clock.

create table webhook_endpoints (
  id                  uuid primary key default gen_random_uuid(),
  url                 text not null,
  secret              text not null,
  -- after a rotation the old secret also signs (webhook-signature carries
  -- both) until previous_secret_expires_at, so receivers can switch over
  previous_secret     text,
  previous_secret_expires_at timestamptz,
  events              text[] not null,
  verify_ssl          boolean not null default true,
  app_code            text,
  enabled             boolean not null default true,
  disabled_reason     text,
  -- first failure of the current run of failures; null while deliveries succeed
  failing_since       timestamptz,
  -- events up to this id happened before the endpoint existed and are not sent to it
  since_event_id      bigint not null default 0,
  created_by          uuid,
  created_at          timestamptz not null,
  updated_at          timestamptz not null
);

create table outbound_requests (
  id              bigint generated always as identity primary key,
  -- who made it: 'webhook' (later 'qiscus', 'rapidpro', …); decides how an attempt is signed
  producer        text not null,
  endpoint_id     uuid references webhook_endpoints (id) on delete cascade,
  event_id        bigint,
  -- idempotency key sent to the receiver (webhook-id); the same on every retry and redelivery
  message_id      text not null,
  -- payload name, e.g. session_state_open or conversation.created
  name            text not null,
  -- rows sharing a key are sent one at a time, in id order (per endpoint and conversation)
  ordering_key    text,
  url             text not null,
  method          text not null default 'POST',
  headers         jsonb not null default '{}',
  body            bytea not null,
  verify_tls      boolean not null default true,
  state           text not null default 'pending' check (state in ('pending', 'delivered', 'failed', 'cancelled')),
  attempts        integer not null default 0,
  max_attempts    integer not null,
  -- when it may next be tried; while an attempt is in flight, the end of its lease
  next_attempt_at timestamptz not null,
  last_attempt_at timestamptz,
  last_status     integer,
  last_error      text,
  delivered_at    timestamptz,
  -- the delivery this one re-sends, for redeliveries
  redelivery_of   bigint,
  created_at      timestamptz not null
);
create index outbound_due on outbound_requests (next_attempt_at, id) where state = 'pending';
create index outbound_ordering on outbound_requests (ordering_key, id) where state = 'pending' and ordering_key is not null;
create index outbound_by_endpoint on outbound_requests (endpoint_id, id);

create table outbound_attempts (
  id               bigint generated always as identity primary key,
  request_id       bigint not null references outbound_requests (id) on delete cascade,
  attempt          integer not null,
  started_at       timestamptz not null,
  duration_ms      integer not null,
  -- the HTTP status; null when no response came (timeout, refused, SSRF guard)
  status           integer,
  response_excerpt text,
  error            text,
  request_headers  jsonb not null default '{}'
);
create index outbound_attempts_by_request on outbound_attempts (request_id, id);

-- How far each event consumer has read the event log. Taken FOR UPDATE SKIP
-- LOCKED, so one process at a time fans a page of events out.
create table outbox_cursors (
  name          text primary key,
  last_event_id bigint not null default 0
);
-- start at the end of the log: events from before webhooks existed are history
insert into outbox_cursors (name, last_event_id) select 'webhooks', coalesce(max(id), 0) from events;
