-- The supervisor dashboard (GET /api/v1/stats) counts assignments and
-- resolutions per time bucket from the event log. Only those two event types
-- are indexed, so the index costs nothing on the far more frequent message
-- events and the dashboard reads just the rows it counts.

create index events_assignments_resolutions on events (type, created_at)
  where type in ('conversation.assigned', 'conversation.resolved');
