-- Rooms closed in Switchboard are closed in Qiscus too (mark_as_resolved, or
-- remove_agent for a room given up on). When Qiscus refuses for good, the
-- room's record says so, so the admin listing can show the room as
-- `unsynced` with Qiscus' answer: the conversation itself stays closed.
alter table qiscus_rooms
  add column sync_error text,
  add column sync_failed_at timestamptz;
