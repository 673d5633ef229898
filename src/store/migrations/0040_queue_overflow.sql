-- The queued conversations with an overflow chain, in queue order: agents
-- of any department may come to serve them, so the matches
-- (sb_match_next, sb_match_for_agent) read them beside the heads of the
-- departments they serve (conversations_queue_by_department, migration
-- 0037) instead of walking the whole queue's order past the conversations
-- of every other department.
create index conversations_queue_overflow on conversations (priority desc, seq)
  where state = 'queued' and overflow <> '[]'::jsonb;
