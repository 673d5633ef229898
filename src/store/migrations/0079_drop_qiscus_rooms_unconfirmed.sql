-- 0078's index went unused: the planner drives the stranded-room query
-- (src/channels/qiscus/stranded.ts) from the open assignments
-- (conversations_by_agent), fewer than the rooms never confirmed, and the
-- index only grew (a room keeps its outbound_id once given up or requeued).
-- Found by review; every insert and update of qiscus_rooms paid for it.
drop index if exists qiscus_rooms_unconfirmed;
