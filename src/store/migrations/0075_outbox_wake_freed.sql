-- A row that leaves 'pending' without an attempt wakes the workers when a
-- row waits behind it.
--
-- A row waits while an earlier pending row with its ordering key exists.
-- When the worker records an attempt (RECORD), it looks behind the rows it
-- moved on once RECORD has committed (FOLLOWED) and kicks its own claim.
-- Every other way out of 'pending' woke nothing, so the row behind waited
-- for a poll (WEBHOOK_POLL_INTERVAL, 1 s): a Qiscus resolve dropped because
-- its room is open again (the new conversation's assign_agent waits behind
-- it), an assignment cancelled as its room closes (the resolve behind it),
-- a webhook endpoint disabled, a RapidPro ticketer deleted, the rows a 410
-- cancels, a delete, or SQL.
--
-- A trigger, not a pg_notify beside each cancel: a cancel written later
-- wakes the workers without knowing it has to. It sends migration 0027's
-- notification (switchboard_outbox, empty payload: one a transaction, folded
-- with the others) when a pending row with the same ordering key and a
-- higher id is still there.
--
-- An attempt's record is told apart by its attempts count: RECORD counts
-- every attempt it records, and its hot path (delivered, retried, failed)
-- is turned away by the triggers' WHEN clause without calling anything;
-- FOLLOWED covers it, waking only the process that recorded, and taking no
-- NOTIFY lock at its commit. A cancel RECORD writes itself (a row its
-- producer would not sign, no attempt made) wakes here too, and FOLLOWED's
-- kick besides: rare, and a cancel like any other.
--
-- Deferred to the commit (a constraint trigger, for that alone), the look
-- behind sees what other transactions committed while this one ran, as
-- FOLLOWED looks once RECORD has committed: a row committed earlier saw
-- this one's row still pending, and its own wake-up passed it by. Only one
-- committed in the instant between that look and this commit waits for the
-- poll.

create function notify_outbox_freed() returns trigger language plpgsql as $$
begin
  if exists (select 1 from outbound_requests p
              where p.ordering_key = old.ordering_key and p.state = 'pending' and p.id > old.id) then
    perform pg_notify('switchboard_outbox', '');
  end if;
  return null;
end
$$;

create constraint trigger outbound_requests_freed_by_update
  after update of state on outbound_requests
  deferrable initially deferred
  for each row
  when (old.state = 'pending' and new.state <> 'pending' and new.attempts = old.attempts and old.ordering_key is not null)
  execute function notify_outbox_freed();

create constraint trigger outbound_requests_freed_by_delete
  after delete on outbound_requests
  deferrable initially deferred
  for each row
  when (old.state = 'pending' and old.ordering_key is not null)
  execute function notify_outbox_freed();
