-- Whether a conversation's customer id is vouched for (issue #16): a widget
-- session whose host site signed the id (WIDGET_IDENTITY_SECRET), a channel
-- that authenticates its contacts itself (Qiscus, RapidPro), or a
-- conversation a supervisor or admin opened through the API. Customer
-- history and statistics are shared only between verified conversations, so
-- anyone can still claim an id but never sees the real customer's past.
--
-- Existing rows: widget and mqtt chats were never checked (false); the
-- channels and the API vouched for theirs (true). New rows default to false,
-- so a path that forgets to decide fails closed.
alter table conversations add column customer_verified boolean not null default false;
update conversations set customer_verified = true where channel in ('qiscus', 'rapidpro', 'api');
-- The customer panel's questions: this customer's verified conversations.
create index conversations_by_verified_customer on conversations (customer_id, seq desc) where customer_verified;
