-- A chat message's search row without a foreign-key check, and written by a
-- BEFORE trigger (issue #22, chat ≥ 3,000 messages/s).
--
-- message_search.message_id referenced messages (id) on delete cascade. Its
-- only writer is the messages trigger (message_search_sync, migrations 0012
-- and 0052), in the statement that writes the message, so the reference was
-- true by construction; but PostgreSQL still checked it for every message:
-- a query of its own (SELECT … FOR KEY SHARE on the new message's row, by
-- its primary key) that also locked the row just inserted — a second write
-- of that row's header and a WAL record of its own, per message. What the
-- constraint still did, the cascade when messages are deleted (a note
-- deleted, a conversation erased: src/notes/, src/erasure/), a trigger on
-- delete now does, once per statement, for every row the statement deleted.
alter table message_search drop constraint message_search_message_id_fkey;

create function message_search_forget() returns trigger language plpgsql as $$
begin
  delete from message_search s using deleted_messages d where s.message_id = d.id;
  return null;
end
$$;
create trigger messages_search_forget after delete on messages
  referencing old table as deleted_messages
  for each statement execute function message_search_forget();

-- And, without the reference, a new message's search row is written BEFORE
-- the message rather than after it: an AFTER ROW trigger queues an event
-- that the end of the statement reads back, fetching the new row again by
-- its address, before calling the function; a BEFORE ROW trigger is called
-- with the row in hand (≈ 4 µs a message of ≈ 85 spent in sb_add_message,
-- measured in a loop). The identity default has drawn new.id by then. Should
-- the message's insert still fail (a check, its own foreign key), the
-- statement fails and takes the search row with it. An edit of the text
-- (a note) keeps the AFTER UPDATE trigger, now for edits only.
create function message_search_insert() returns trigger language plpgsql as $$
begin
  if new.text is not null then
    insert into message_search (message_id, conversation_id, created_at, vector)
    values (new.id, new.conversation_id, new.created_at, to_tsvector('simple'::regconfig, new.text));
  end if;
  return new;
end
$$;
create or replace function message_search_sync() returns trigger language plpgsql as $$
begin
  if new.text is null then
    delete from message_search where message_id = new.id;
  else
    insert into message_search (message_id, conversation_id, created_at, vector)
    values (new.id, new.conversation_id, new.created_at, to_tsvector('simple'::regconfig, new.text))
    on conflict (message_id) do update set vector = excluded.vector;
  end if;
  return null;
end
$$;
drop trigger messages_search on messages;
create trigger messages_search_insert before insert on messages
  for each row execute function message_search_insert();
create trigger messages_search after update of text on messages
  for each row execute function message_search_sync();
