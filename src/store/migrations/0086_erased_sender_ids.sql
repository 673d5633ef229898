-- A customer's message names its sender by the customer's id (often an
-- email or phone number; an offline message's `offline:<email>`), and the
-- erasure's redaction (src/erasure/redact.ts) left it in the conversation's
-- message.created events and in the webhook deliveries rebuilt from them
-- (found by review). The redaction now nulls it; here, for the
-- conversations erased before (their events outlive them). A delivery's
-- body is a Switchboard payload, `data` being the event's.
update events e
   set data = jsonb_set(e.data, '{message,sender_id}', 'null'::jsonb)
 where e.type = 'message.created'
   and e.conversation_id is not null
   and e.data #>> '{message,sender}' = 'customer'
   and jsonb_typeof(e.data #> '{message,sender_id}') = 'string'
   and not exists (select 1 from conversations c where c.id = e.conversation_id);

update outbound_requests o
   set body = convert_to(jsonb_set(convert_from(o.body, 'UTF8')::jsonb, '{data,message,sender_id}', 'null'::jsonb)::text, 'UTF8')
  from events e
 where o.producer = 'webhook'
   and o.name = 'message.created'
   and o.event_id = e.id
   and e.type = 'message.created'
   and e.conversation_id is not null
   and not exists (select 1 from conversations c where c.id = e.conversation_id)
   and convert_from(o.body, 'UTF8')::jsonb #>> '{data,message,sender}' = 'customer'
   and jsonb_typeof(convert_from(o.body, 'UTF8')::jsonb #> '{data,message,sender_id}') = 'string';
