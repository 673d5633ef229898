-- The agents with room, by the pick's order, so that a pick at capacity
-- reads no full agent (issue #22: a queued create cost PostgreSQL 2–3× an
-- assigned one; the exclusive open's pick walked agents_pick past every
-- full agent, 1,000 at a time, to find nobody).
--
-- Two partial indexes, as the two kinds of capacity: an agent's own
-- (agents_room_own holds only those with room: load < capacity), and the
-- max_customers setting's for an agent without one (agents_room_default
-- holds them all, in load order: the setting is not the index's to read,
-- so the pick bounds the walk by it, `load < setting`, an index condition).
-- Their predicates are disjoint: an agent's row version is in one of them at
-- most. Every update of an agent's load already writes a new entry in every
-- index on agents (load is in agents_pick: never a HOT update), so this is
-- at most one more entry an update, none for an own-capacity agent it fills.
-- Same key as agents_pick: (load, last_assigned_at nulls first, id).
create index agents_room_own on agents (load, last_assigned_at nulls first, id)
  where status = 'online' and deleted_at is null and load < capacity;
create index agents_room_default on agents (load, last_assigned_at nulls first, id)
  where status = 'online' and deleted_at is null and capacity is null;
