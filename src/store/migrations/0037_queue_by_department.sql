-- One department's queue in serving order (GET /api/v1/queue?department=…,
-- paged; src/routing/queue.ts listQueuePage): a page is a walk of this index
-- up to its last entry, instead of a walk of the whole queue's order past
-- every other department's conversations.
create index conversations_queue_by_department on conversations (department, priority desc, seq) where state = 'queued';
