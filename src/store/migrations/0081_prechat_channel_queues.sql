-- Channels' own queues (src/routing/channel-queues.ts): a pre-chat form
-- saved before they were reserved may offer a department starting with @,
-- and a customer who chose it was refused the chat. Those choices go; a
-- department field left with none goes too (a select needs a choice, and
-- without the field the conversation opens in no department, as when the
-- form had none).
update prechat_form p
   set fields = (
         select coalesce(jsonb_agg(k.field order by k.n), '[]'::jsonb)
           from (select case when f ->> 'key' = 'department'
                             then jsonb_set(f, '{options}', coalesce(
                                    (select jsonb_agg(o order by m) from jsonb_array_elements(f -> 'options') with ordinality as x(o, m)
                                      where o #>> '{}' not like '@%'), '[]'::jsonb))
                             else f end as field, n
                   from jsonb_array_elements(p.fields) with ordinality as e(f, n)) k
          where not (k.field ->> 'key' = 'department' and jsonb_array_length(k.field -> 'options') = 0)),
       updated_at = now()
 where exists (select 1 from jsonb_array_elements(p.fields) f, jsonb_array_elements(f -> 'options') o
                where f ->> 'key' = 'department' and o #>> '{}' like '@%');
