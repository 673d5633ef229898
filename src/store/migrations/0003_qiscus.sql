-- Qiscus Multichannel channel. Qiscus agents are mirrored as engine agents
-- (source 'qiscus', external_ref = the Qiscus agent id) so the engine's load
-- counter and invariants cover them; they stay 'offline' in the engine's
-- sense, which keeps the core pick, presence sweeps and other channels away
-- from them. A Qiscus room is a conversation (channel 'qiscus', external_ref =
-- room id) in the reserved department '@qiscus'.

alter table agents add column source text;
create unique index agents_source_ref on agents (source, external_ref)
  where source is not null and deleted_at is null;

-- What the allocator knows about a room beyond its conversation: the agent it
-- asked Qiscus to assign, the assign_agent job, and why it is stuck or failed.
create table qiscus_rooms (
  conversation_id  uuid primary key references conversations (id),
  room_id          text not null,
  qiscus_agent_id  text,
  outbound_id      bigint,
  -- Qiscus confirmed (or reported the room already has an agent)
  confirmed_at     timestamptz,
  -- the latest problem, kept for the admin listing
  reason           text,
  -- consecutive failures to list the room's available agents, and when to try again
  fetch_failures   integer not null default 0,
  retry_at         timestamptz,
  updated_at       timestamptz not null
);
create index qiscus_rooms_by_room on qiscus_rooms (room_id);
