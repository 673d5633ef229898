-- What a chat message's insert maintains, made cheaper (issue #22, chat
-- ≥ 3,000 messages/s): PostgreSQL spent twice the server's CPU on a message.

-- The search row of a new message is a plain insert. The upsert is for an
-- edit (a note's text changed: its row is there already); on an insert the
-- message id is new, so nothing can conflict, and ON CONFLICT only cost a
-- speculative insertion: a look into the primary key before the insert,
-- a token, and a second WAL record to confirm the row.
create or replace function message_search_sync() returns trigger language plpgsql as $$
begin
  if new.text is null then
    delete from message_search where message_id = new.id;
  elsif tg_op = 'INSERT' then
    insert into message_search (message_id, conversation_id, created_at, vector)
    values (new.id, new.conversation_id, new.created_at, to_tsvector('simple'::regconfig, new.text));
  else
    insert into message_search (message_id, conversation_id, created_at, vector)
    values (new.id, new.conversation_id, new.created_at, to_tsvector('simple'::regconfig, new.text))
    on conflict (message_id) do update set vector = excluded.vector;
  end if;
  return null;
end
$$;

-- messages_unread (migration 0005) was a third index on (conversation_id,
-- id), partial on read_at is null, that every message entered. Its one
-- reader, a read receipt (markRead, src/conversations/messages.ts), names
-- the conversation and the message ids, which messages_by_conversation
-- (or the primary key) finds as well. Without it, a receipt's update of
-- read_at touches no indexed column, so it can stay on the row's page (HOT).
drop index messages_unread;
