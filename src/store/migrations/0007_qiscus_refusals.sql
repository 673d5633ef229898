-- Qiscus refusals recorded on the room. qiscus_agent_id is only the agent
-- last asked to take the room, and it stays set when the room goes back to
-- the queue for any reason (a supervisor's requeue, a transfer), so it cannot
-- tell the allocator whom Qiscus refused. The refusal path records that agent
-- itself, and counts the refusals on the room instead of counting the room's
-- failed assign_agent jobs (an unindexed scan that also counted failures that
-- were no refusal, such as "the room already has an agent").

alter table qiscus_rooms
  -- the agent Qiscus last refused for this room; a new assignment clears it
  add column refused_agent_id text,
  -- refusals of assign_agent over the room's life; a new assignment keeps it
  add column refusals integer not null default 0;

-- Rooms open at the upgrade keep what the old code would have counted and
-- avoided: their failed assign_agent jobs, and, while a room waits after a
-- refusal, the agent refused.
update qiscus_rooms q
   set refusals = f.n
  from (select message_id, count(*)::int as n
          from outbound_requests
         where producer = 'qiscus' and state = 'failed'
         group by message_id) f, conversations c
 where f.message_id = 'assign:' || q.conversation_id::text
   and c.id = q.conversation_id and c.state in ('queued', 'assigned');

update qiscus_rooms q
   set refused_agent_id = q.qiscus_agent_id
  from conversations c
 where c.id = q.conversation_id and c.state = 'queued'
   and q.reason like 'Qiscus refused agent %';
