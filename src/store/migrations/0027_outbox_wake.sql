-- Outbound work wakes every process's worker on commit (issue #22, item 4).
--
-- A worker learns of new events from its own process's commits at once
-- (onCommitted; the routing functions' callers pass their events on too).
-- Outbound requests written by another process, or by SQL, waited for its
-- poll. Now every statement that inserts outbound requests sends NOTIFY
-- switchboard_outbox, and each process LISTENs on a connection of its own
-- (src/store/postgres-listen.ts; PGlite hears its own NOTIFYs in the reply
-- to COMMIT). PostgreSQL delivers a NOTIFY when, and only if, its
-- transaction commits: the wake-up comes exactly when the work is visible,
-- whoever wrote it, and never for work rolled back.
--
-- Events do not notify. A notifying transaction takes one cluster-wide lock
-- from its pre-commit to its end (PostgreSQL keeps the notification queue
-- in commit order that way): with a trigger on events, every chat message
-- queued on it (measured: 10-21 sessions waiting on that lock, 483 messages/s
-- against 629/s without), which undoes migration 0022's "no global lock".
-- The process that commits events wakes its own worker; another process's
-- worker finds them at its next pass or poll.
--
-- A statement-level trigger, not per row, and the payload is
-- always empty: PostgreSQL folds identical notifications of a transaction
-- into one, so a transaction sends at most one however much it writes. The
-- poll stays, as the safety net for a lost listening connection.

create function notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_outbox', '');
  return null;
end
$$;

create trigger outbound_requests_notify_outbox
  after insert on outbound_requests
  for each statement execute function notify_outbox();
