-- A routing change rewrites its conversation's row (its state changes, an
-- indexed column, so the update is never HOT), and every index whose
-- columns or predicate take the new version gets an entry: about twenty
-- on conversations, once for the open, once for the give, once for the
-- close (issue #22, item 3: the routing functions' writing is most of the
-- lock's hold at capacity). Two of them indexed every row for questions
-- asked only about open or held conversations.
--
-- conversations_by_state (state, created_at) answered the questions about
-- open states (GET /stats' queue by department, the metrics' counts of
-- offered and assigned, the count of all open ones); nothing asks it about
-- a closed state (the recent resolutions have conversations_recently_resolved,
-- a state filter on the listing walks conversations_seq_key). Partial, a
-- close adds no entry, and the index holds only the open conversations
-- instead of the whole history. A partial index per state would not do:
-- `state in (...)` is not answered from several partial indexes.
create index conversations_open_by_state on conversations (state, created_at)
  where state in ('queued', 'offered', 'assigned');
drop index if exists conversations_by_state;
-- conversations_by_holder (agent_id, id) lists the conversations an agent
-- holds or last held; a queued conversation has no agent and is never
-- asked for by it (agent_id = $1 implies the predicate), so its open, which
-- inserts it queued, adds no entry.
create index conversations_by_holder_partial on conversations (agent_id, id) where agent_id is not null;
drop index if exists conversations_by_holder;
alter index conversations_by_holder_partial rename to conversations_by_holder;
