-- Uploaded files (#17 item 1). The row is the attachment; its bytes live in
-- attachment_bytes (the database store, the default) or in an S3-compatible
-- bucket under the attachment's id (storage = 's3'). A message refers to an
-- attachment by id in its attachments JSON.
create table attachments (
  id              uuid primary key,
  -- a conversation's files go with it
  conversation_id uuid not null references conversations (id) on delete cascade,
  uploaded_by     text not null check (uploaded_by in ('customer', 'agent')),
  agent_id        uuid,
  name            text not null,
  content_type    text not null,
  size            integer not null check (size >= 0),
  storage         text not null check (storage in ('database', 's3')),
  created_at      timestamptz not null
);
create index attachments_conversation on attachments (conversation_id);

create table attachment_bytes (
  attachment_id uuid primary key references attachments (id) on delete cascade,
  bytes         bytea not null
);

-- Objects of deleted attachments still to be removed from the bucket. The
-- trigger records them in the transaction that deletes the row, whatever
-- deleted it (a cascade from the conversation, an operator's SQL), and the
-- file sweeper removes them after it commits: never an object deleted for a
-- row that a rolled-back transaction kept, never one forgotten.
create table attachment_deletions (
  key        text primary key,
  created_at timestamptz not null default now()
);

create function attachments_forget_object() returns trigger language plpgsql as $$
begin
  if old.storage = 's3' then
    insert into attachment_deletions (key) values (old.id::text) on conflict do nothing;
  end if;
  return old;
end $$;

create trigger attachments_forget_object after delete on attachments
  for each row execute function attachments_forget_object();

-- The key signed attachment links are made with when ATTACHMENT_LINK_SECRET
-- is not set: made by the first process, shared by every other through here.
create table attachment_link_secret (
  only_row boolean primary key default true check (only_row),
  secret   bytea not null
);
