-- A new webhook endpoint starts at a position in the event log, not at an
-- event id (review, 2026-11-26). It started at max(id) of the events its
-- creation could see, and the fan-out skipped every event with an id at most
-- that. Ids are drawn when an event is written, not when it commits
-- (migration 0022): an event of a transaction still open at the creation,
-- with a lower id, committed after it and was never sent, while the same
-- conversation's later events were.
--
-- Now the endpoint gets every event at or after (since_xid_bound,
-- since_event_id) in the log's order, (xid_bound, id). A new endpoint starts
-- at (event_horizon(), 0): every transaction still open when it is created
-- has a bound at or above the horizon, so none of its events is skipped; an
-- event committed a moment before the creation, while an older transaction
-- was still open, may be sent as well (docs/webhooks.md).
--
-- An existing endpoint keeps its start: the position of the event it
-- started after (0 for an endpoint that started before any event).
alter table webhook_endpoints add column since_xid_bound bigint not null default 0;
update webhook_endpoints w
   set since_xid_bound = coalesce((select e.xid_bound from events e where e.id = w.since_event_id), 0);
