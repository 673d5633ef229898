-- A rating outlives the erasure of its conversation, score only. The
-- erasure (src/erasure/erase.ts) deleted it with the conversation, and the
-- Satisfaction report of a past period changed (a rating of 1 gone: from 1
-- rating averaging 1 to none) while the conversation still counted in every
-- other report (found by review). The rating now keeps its score, agent,
-- department and time, and loses its comment (the customer's words); its
-- conversation_id names a conversation gone, as the conversation's events
-- do (they have no foreign key either). A rating is still only ever written
-- for a conversation that exists (src/ratings/rate.ts locks its row first).
alter table ratings drop constraint ratings_conversation_id_fkey;
