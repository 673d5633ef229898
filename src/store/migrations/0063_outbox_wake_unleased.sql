-- Only requests nobody leased wake the workers (issue #22, Qiscus paced
-- 500/s, webhook -> assign_agent p99).
--
-- The Qiscus allocation pass now inserts its assign_agent calls already
-- leased to its process's worker (next_attempt_at = the lease's end) and
-- hands them over as it commits (src/channels/qiscus/allocate.ts): no claim
-- statement follows the insert. A leased row needs no wake-up: a claim
-- woken for it finds it not due. A row due at once (its next_attempt_at no
-- later than its created_at, as enqueue() writes every request) does: the
-- statement wakes the workers if it inserted one or more of those, and not
-- otherwise. A pass whose insert leaves a call unleased (its room's earlier
-- call still pending, or no free slot) therefore still wakes every process.
-- A leased row whose sender dies is due again when its lease ends, and the
-- poll finds it, as a claimed row's always was.
--
-- This replaces migration 0055's transaction-local switchboard.outbox_handed:
-- the decision is the rows' own, so nothing outlives the statement. Still one
-- trigger a statement (see 0027), reading the statement's rows from its
-- transition table.

create or replace function notify_outbox() returns trigger language plpgsql as $$
begin
  if exists (select 1 from inserted_requests where next_attempt_at <= created_at) then
    perform pg_notify('switchboard_outbox', '');
  end if;
  return null;
end
$$;

drop trigger outbound_requests_notify_outbox on outbound_requests;

create trigger outbound_requests_notify_outbox
  after insert on outbound_requests
  referencing new table as inserted_requests
  for each statement execute function notify_outbox();
