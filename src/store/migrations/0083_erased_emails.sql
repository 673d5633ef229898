-- Erasing a conversation erases its emails too (src/erasure/erase.ts,
-- redactEmails): found by their ordering key `email:<conversation id>`, the
-- pending ones cancelled, every one's body, recipient (but the team's own
-- address an offline message goes to), subject and attempts' relay replies
-- and errors overwritten, and the row marked with the header `erased`.
-- Before, the erasure left them whole, and a pending transcript was mailed
-- after it (found by review).

-- An attempt recorded after the erasure: the email was being sent when the
-- erasure began (claimed, leased, in flight). RECORD (src/events/outbound/outbox.ts)
-- moves only pending rows, so the cancelled row stays as the erasure wrote
-- it, but RECORD logs the attempt of any row that exists, with the headers
-- the row had when claimed (an offline message's subject names the
-- customer) and the relay's reply (a refusal may quote the recipient). This
-- trigger writes it as the erasure writes the earlier ones. FOR KEY SHARE:
-- an erasure holding the row (FOR UPDATE) until its commit is waited for and
-- then seen; one that comes later waits for this record's commit and
-- redacts the attempt itself. Only email attempts call it (their request
-- headers carry the envelope sender, `mail-from`, src/email/transport.ts):
-- the webhooks' and the channels' attempts are turned away by the WHEN
-- clause, at no cost.
create function sb_erased_email_attempt() returns trigger language plpgsql as $$
declare
  v_headers jsonb;
begin
  select o.headers into v_headers from outbound_requests o where o.id = new.request_id for key share;
  if v_headers ? 'erased' then
    new.response_excerpt := null;
    new.error := case when new.error is null then null else '(erased with its conversation)' end;
    new.request_headers := v_headers;
  end if;
  return new;
end
$$;

create trigger outbound_attempts_erased_email
  before insert on outbound_attempts
  for each row
  when (new.request_headers ? 'mail-from')
  execute function sb_erased_email_attempt();

-- The erasure finds a conversation's emails by key, whatever their state
-- (outbound_ordering holds only pending rows): without this, it read every
-- email row ever sent, while it holds the webhook fan-out's cursor.
create index outbound_email_by_key on outbound_requests (ordering_key) where producer = 'email' and ordering_key is not null;

-- Offline messages' emails were written without a key, so no erasure could
-- find them (src/email/offline.ts now gives them their conversation's, as
-- `email-offline:<id>`: their own key, so a transcript of the conversation
-- does not wait behind the team's copy). The ones written before: their
-- conversation opened in the same transaction, at the same instant, and the
-- raw email names it, by its id in the body or by the customer's address in
-- the Reply-To header. Not merely the one conversation opened at that
-- instant: that one may be another's, when the email's own was erased
-- since (found by review). Both, as the body alone may hide the id: a text
-- part mostly in a non-Latin script is base64, and quoted-printable
-- wraps a long line of HTML (found by review); the address stays plain in
-- the header.
update outbound_requests o
   set ordering_key = 'email-offline:' || m.conversation_id
  from (
    select distinct on (l.id) l.id, c.id as conversation_id
      from outbound_requests l
      join conversations c on c.channel = 'offline' and c.created_at = l.created_at
     where l.producer = 'email' and l.name = 'offline_message' and l.ordering_key is null
       and (position(convert_to(c.id::text, 'UTF8') in l.body) > 0
            or (c.customer ->> 'email' <> '' and position(convert_to(c.customer ->> 'email', 'UTF8') in l.body) > 0))
     order by l.id, position(convert_to(c.id::text, 'UTF8') in l.body) > 0 desc
  ) m
 where o.id = m.id;

-- The emails of conversations erased before this: the erasure deleted the
-- conversation and left its emails whole (a pending one was still to be
-- mailed). Erased now as the erasure erases them: the transcripts whose
-- conversation is gone, and the offline messages' emails left unkeyed
-- above, which name no offline conversation opened at their instant
-- (conversations are deleted only by an erasure).
with erased as (
  select o.id from outbound_requests o
   where o.producer = 'email'
     and o.ordering_key ~ '^email(-offline)?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     and not exists (select 1 from conversations c
                      where c.id = case when o.ordering_key ~ '^email(-offline)?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                        then substring(o.ordering_key from '[0-9a-f-]{36}$')::uuid end)
  union
  select o.id from outbound_requests o
   where o.producer = 'email' and o.name = 'offline_message' and o.ordering_key is null
)
update outbound_requests o
   set state = case when o.state = 'pending' then 'cancelled' else o.state end,
       last_error = case when o.state = 'pending' then 'cancelled: its conversation was erased'
                         when o.last_error is null then null else '(erased with its conversation)' end,
       body = ''::bytea,
       url = case when o.name = 'offline_message' then o.url else 'mailto:' end,
       headers = jsonb_strip_nulls(jsonb_build_object('mail-from', o.headers -> 'mail-from', 'requested-by', o.headers -> 'requested-by'))
                 || jsonb_build_object('subject', '(erased)', 'erased', 'true')
  from erased e
 where o.id = e.id;

-- and their attempts (the rows just marked)
update outbound_attempts a
   set response_excerpt = null,
       error = case when a.error is null then null else '(erased with its conversation)' end,
       request_headers = o.headers
  from outbound_requests o
 where o.id = a.request_id and o.producer = 'email' and o.headers ? 'erased';
