-- Reports (GET /api/v1/reports) read, for each conversation resolved in the
-- period, its message events: how many there are, and when the first agent
-- reply came. One partial index serves both: the equality on the
-- conversation finds its messages (counted from the index alone), and the
-- sender before the time puts the first agent reply at the front of its
-- range. The resolutions themselves come from events_assignments_resolutions
-- (migration 0006). Only message events are indexed here, so the index grows
-- with messages, never with the other event types. Building it takes about
-- 1.4 s per million events (bench/reports.ts), during which event writes wait.

create index events_messages on events (conversation_id, (data #>> '{message,sender}'), created_at)
  where type = 'message.created';
