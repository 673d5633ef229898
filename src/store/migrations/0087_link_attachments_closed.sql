-- A customer's MQTT message could carry a link attachment with fields of
-- its own (src/realtime/payloads.ts now refuses them): `"size": "huge"`
-- made every read of the conversation's messages a 500, and a link could
-- pose as an uploaded file (`"id": 1, "name": "invoice.pdf"`). The ones
-- stored before are cut down to what a link is, {type, url}: an
-- attachment is a file only when its `id` names a file of its conversation.
update messages m
   set attachments = (
     select coalesce(jsonb_agg(case when f.id is not null then a
                                    else jsonb_build_object('type', a -> 'type', 'url', a -> 'url') end
                               order by x.n), '[]'::jsonb)
       from jsonb_array_elements(m.attachments) with ordinality as x(a, n)
       left join attachments f
         on f.id = (case when jsonb_typeof(a -> 'id') = 'string' and (a ->> 'id') ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                         then (a ->> 'id')::uuid end)
        and f.conversation_id = m.conversation_id)
 where m.attachments <> '[]'::jsonb
   and exists (select 1 from jsonb_array_elements(m.attachments) a
                where (a - 'type' - 'url') <> '{}'::jsonb
                  and not exists (select 1 from attachments f
                                   where f.id = (case when jsonb_typeof(a -> 'id') = 'string' and (a ->> 'id') ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                                                      then (a ->> 'id')::uuid end)
                                     and f.conversation_id = m.conversation_id));
