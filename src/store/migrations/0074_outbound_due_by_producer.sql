-- A claim reads only the pending rows of the producers its worker has.
--
-- Rows of a producer no process has (email once SMTP_URL is removed, Qiscus
-- calls being retried once its variables are) stay pending, due. The claim
-- walked outbound_due (next_attempt_at, id) in due order and filtered each
-- row by producer: with N such rows due, every claim of every process read
-- past all N. It now walks this index once per producer it has, each in due
-- order, and merges the walks (src/events/outbound/outbox.ts, CLAIM):
-- another producer's rows are never read. Measured on PostgreSQL 15 with
-- 20,000 due email rows and a webhook-only claim: the walk read 413 buffers
-- and removed 20,002 rows by filter; now 13 buffers, 2 rows removed (rows
-- waiting behind their ordering key).
--
-- Nothing else reads outbound_due: the listings go by endpoint, producer or
-- ticketer, the ordering rule by outbound_ordering, and CLAIM_NEW by id. So
-- it goes, and a row's state and lease changes keep one index up to date, not
-- two.
--
-- Built in the migrations' transaction (not concurrently): writes to
-- outbound_requests wait while it is built, which reads the whole table.

create index outbound_due_by_producer on outbound_requests (producer, next_attempt_at, id) where state = 'pending';
drop index outbound_due;
