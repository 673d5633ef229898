-- On embedded PGlite, the tables whose files still hold the bytes of rows
-- deleted or rewritten outside an erasure: the delivery log pruned after
-- DELIVERY_LOG_DAYS, a customer's file swept unsent after a day, a note
-- edited or deleted. PGlite runs no autovacuum, and those passes VACUUM at
-- most (which leaves a removed row's bytes in its page), so an erasure
-- months later found nothing of its conversation there to delete, did not
-- rewrite the table, and the pruned webhook bodies or the swept file stayed
-- in DATA_DIR/base/ (found by review). An erasure rewrites these tables too
-- (src/store/vacuum.ts, unreclaimedTables), and notes its own here as well,
-- in its transaction, so that a rewrite that fails after its commit (a full
-- disk) or a process stopped in the middle of one is made by the next.
-- noted_at: when it was last noted; a table's name goes once a rewrite that
-- started after that has succeeded. Written on PGlite only: on PostgreSQL
-- autovacuum reclaims the space.
create table unreclaimed_tables (
  name     text primary key,
  noted_at timestamptz not null
);
