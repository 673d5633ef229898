-- A row that leaves 'pending' without an attempt wakes the workers, without
-- looking first whether a row waits behind it (migration 0075 looked).
--
-- The look walked the ordering index from the row's id on, and a bulk
-- cancel (an endpoint disabled, a 410, a ticketer deleted) cancels a whole
-- ordering key in one transaction: the entries of the rows it had already
-- cancelled are dead only to that transaction, never marked dead in the
-- index, so each row's look visited every one after it — k²/2 heap visits
-- for a key of k rows at the commit (4,000 rows: 0.7–0.8 s against 30–50 ms
-- without the trigger, on both stores), and the whole key was cancelled, so
-- there was never a row behind to wake. The NOTIFY is a hint: a worker it
-- wakes with nothing to claim costs one claim. One a transaction (the same
-- channel and payload fold into one), sent at the commit, so a claim it wakes
-- sees the cancel; no longer deferred, as nothing is looked at.
--
-- RECORD's hot path (deliveries, retries, failures raise attempts) is still
-- turned away by the WHEN clause, and FOLLOWED covers it.

drop trigger outbound_requests_freed_by_update on outbound_requests;
drop trigger outbound_requests_freed_by_delete on outbound_requests;

create or replace function notify_outbox_freed() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_outbox', '');
  return null;
end
$$;

create trigger outbound_requests_freed_by_update
  after update of state on outbound_requests
  for each row
  when (old.state = 'pending' and new.state <> 'pending' and new.attempts = old.attempts and old.ordering_key is not null)
  execute function notify_outbox_freed();

create trigger outbound_requests_freed_by_delete
  after delete on outbound_requests
  for each row
  when (old.state = 'pending' and old.ordering_key is not null)
  execute function notify_outbox_freed();
