-- A chat message sent again is stored once. A client publishes with QoS 1
-- and sends again what was not acknowledged: when the link drops after the
-- PUBLISH left but before its PUBACK came back, mqtt.js sends the same
-- message again on reconnect, and it was stored (and shown to the agent)
-- twice. A client may now give each message an id of its own (a uuid, the
-- same on every resend: `clientMessageId` in the MQTT payload,
-- docs/realtime.md); a message whose id its conversation already holds is
-- answered with the stored copy, nothing written.
--
-- client_message_id: the sender's id for the message; null (nearly all, and
-- every message stored before) when none was given. Unique per
-- conversation, and only messages that carry one are in the index.
alter table messages add column client_message_id uuid;
create unique index messages_client_message_id on messages (conversation_id, client_message_id) where client_message_id is not null;

-- How the id reaches the row. The message is written by sb_add_message
-- (routing/functions.sql), the one statement of the hottest write, which
-- knows nothing of it; setting the column afterwards would be a second,
-- non-HOT write of every such message (a new entry in each of messages'
-- indexes). So the column's default reads it from a setting that
-- sb_add_client_message (below) makes for its own transaction alone
-- (set_config(…, true)) around its call; unset, as for every other insert,
-- the default is null. Set as a default after the column is added: existing
-- rows keep null without the table being rewritten.
alter table messages alter column client_message_id
  set default nullif(current_setting('switchboard.client_message_id', true), '')::uuid;

-- sb_add_message with the sender's id for the message. The conversation's
-- row is locked first, as sb_add_message locks it (no key update, the same
-- order: it takes the lock again at no cost): a copy sent while the first
-- is still being stored waits here, then finds it. Answers as
-- sb_add_message does, or {stored}: the message of that id stored before,
-- as sb_message_json shows it (nothing written, no event), or {taken}: the
-- id is another sender's message's (nothing written). Null: no such
-- conversation.
create function sb_add_client_message(
  p_conversation uuid, p_sender text, p_sender_id text, p_text text, p_attachments jsonb, p_now timestamptz,
  p_sees_all boolean, p_actor uuid, p_client_message_id uuid)
returns jsonb language plpgsql as $$
declare
  m messages;
  v_added jsonb;
begin
  perform from conversations x where x.id = p_conversation for no key update;
  if not found then
    return null;
  end if;
  select * into m from messages x where x.conversation_id = p_conversation and x.client_message_id = p_client_message_id;
  if found then
    if m.sender is distinct from p_sender or m.sender_id is distinct from p_sender_id then
      return jsonb_build_object('taken', true);
    end if;
    return jsonb_build_object('stored', sb_message_json(m));
  end if;
  perform set_config('switchboard.client_message_id', p_client_message_id::text, true);
  v_added := sb_add_message(p_conversation, p_sender, p_sender_id, p_text, p_attachments, p_now, p_sees_all, p_actor);
  -- For this message alone, should its transaction write another. (No lock:
  -- the events insert is still the last statement that takes one, xid_bound.)
  perform set_config('switchboard.client_message_id', '', true);
  return v_added;
end
$$;
