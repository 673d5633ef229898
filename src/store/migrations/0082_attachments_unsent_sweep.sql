-- A customer's files never sent in a message (src/files/quota.ts): a widget
-- session is open to anyone, and its uploads were neither counted nor ever
-- removed. `sent`: a message has referred to the file (set in the message's
-- transaction, src/files/message-files.ts). A customer holds a bounded number
-- of unsent files per conversation, and those left unsent for a day are
-- deleted (src/files/deletions.ts, removeUnsentFiles; their S3 objects are
-- queued by the attachments trigger of migration 0020).
alter table attachments add column sent boolean not null default false;

-- Files that messages already carry.
update attachments a set sent = true
 where exists (select 1 from messages m
                where m.conversation_id = a.conversation_id
                  and m.attachments @> jsonb_build_array(jsonb_build_object('id', a.id::text)));

-- The sweep's: customers' unsent files, oldest first.
create index attachments_customer_unsent on attachments (created_at) where not sent and uploaded_by = 'customer';
