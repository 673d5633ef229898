-- On embedded PGlite, the tables whose files still hold the bytes of rows
-- deleted or rewritten outside an erasure: the delivery log pruned after
-- DELIVERY_LOG_DAYS, a customer's file swept unsent after a day, a note
-- edited or deleted. PGlite runs no autovacuum, and those passes VACUUM at
-- most (which leaves a removed row's bytes in its page), so an erasure
-- months later found nothing of its conversation there to delete, did not
-- rewrite the table, and the pruned webhook bodies or the swept file stayed
-- in DATA_DIR/base/ (found by review). An erasure rewrites these tables too
-- (src/store/vacuum.ts, unreclaimed); the name goes when its rewrite starts.
-- Written on PGlite only: on PostgreSQL autovacuum reclaims the space.
create table unreclaimed_tables (
  name text primary key
);
