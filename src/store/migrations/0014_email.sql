-- Email (#18): offline messages, transcripts, and their delivery log.
--
-- Emails ride the one outbound outbox (outbound_requests): producer 'email',
-- url 'mailto:<recipients>', method 'SMTP', body the whole rendered MIME
-- message, stored when the request is accepted. Claims, leases, retries and
-- the attempt log are the webhooks' own.

-- A message left while nobody was there to chat: its conversation waits in
-- the queue like any other, marked as such so agents know the customer is
-- not on the line.
alter table conversations drop constraint conversations_channel_check;
alter table conversations add constraint conversations_channel_check
  check (channel in ('widget', 'qiscus', 'rapidpro', 'api', 'mqtt', 'offline'));

-- The email delivery log pages through one producer's rows, newest first.
create index outbound_by_producer on outbound_requests (producer, id);
