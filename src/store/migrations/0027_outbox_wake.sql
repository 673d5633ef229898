-- Outbound work wakes every process's worker on commit (issue #22, item 4).
--
-- A worker learns of new work from its own process's commits at once
-- (onCommitted), but work written by another process, or by SQL that does
-- not go through withEvents (PL/pgSQL routing functions), waited for its
-- poll. Now every statement that inserts events or outbound requests sends
-- NOTIFY switchboard_outbox, and each process LISTENs on a connection of
-- its own (src/store/postgres-listen.ts; PGlite hears its own NOTIFYs in
-- the reply to COMMIT). PostgreSQL delivers a NOTIFY when, and only if, its
-- transaction commits: the wake-up comes exactly when the work is visible,
-- whoever wrote it, and never for work rolled back.
--
-- One statement-level trigger per table, not per row, and the payload is
-- always empty: PostgreSQL folds identical notifications of a transaction
-- into one, so a transaction sends at most one however much it writes. The
-- poll stays, as the safety net for a lost listening connection.

create function notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_outbox', '');
  return null;
end
$$;

create trigger events_notify_outbox
  after insert on events
  for each statement execute function notify_outbox();

create trigger outbound_requests_notify_outbox
  after insert on outbound_requests
  for each statement execute function notify_outbox();
