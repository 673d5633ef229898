-- Customer chat sessions of the real-time layer. A session is a widget
-- conversation seen from the customer's side: the token the customer's
-- browser uses as its MQTT password (only its SHA-256 is kept) and when the
-- customer was last heard from, for the keep-alive.

create table customer_sessions (
  conversation_id uuid primary key references conversations (id),
  customer_id     text not null,
  token_hash      text not null unique,
  last_seen_at    timestamptz not null,
  expires_at      timestamptz not null,
  created_at      timestamptz not null
);
-- the keep-alive sweep looks only at sessions whose conversation is open,
-- oldest silence first
create index customer_sessions_by_last_seen on customer_sessions (last_seen_at);

-- read receipts set read_at; an index finds a conversation's unread messages
create index messages_unread on messages (conversation_id, id) where read_at is null;
