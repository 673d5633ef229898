-- A chat message's search row without a foreign-key check (issue #22, chat
-- ≥ 3,000 messages/s).
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
