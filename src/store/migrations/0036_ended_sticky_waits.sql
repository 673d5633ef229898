-- Sticky waits (migration 0033) end by time alone: every open asks whether a
-- queued conversation's wait has ended (sb_open_conversation), so that it
-- is served before the newcomer. An index probe, not a walk of the queue.
create index conversations_sticky_waits on conversations (sticky_until)
  where state = 'queued' and sticky_until is not null;
