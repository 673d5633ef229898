-- event_horizon() (0022) as PL/pgSQL: the same statement, planned once per
-- connection instead of at every call.
--
-- A SQL function that PostgreSQL cannot inline (this one reads FROM a
-- subquery) is parsed and planned again each time a statement calls it:
-- its plan lives only as long as the calling statement's execution, even
-- when that statement is prepared. Its body reads pg_stat_activity, a view
-- of several joins, so the planning was most of the call: 0.43 ms a call
-- (pgbench, `select event_horizon()`, one client, idle server) against
-- 0.08–0.10 ms as PL/pgSQL, which keeps the plan of its statement for the
-- session. Every reader of the log calls it once or twice a page (events/log.ts:
-- PAST, WAITING, END_OF_LOG): the webhook fan-out, the RapidPro and Qiscus
-- feeds, GET /api/v1/events; the Qiscus feed's page cost 3.5 ms on average
-- under bench/qiscus.ts's paced load, nearly all of it this planning
-- (pg_stat_statements, auto_explain).
--
-- Still STABLE, so a reader's `xid_bound < event_horizon()` remains an index
-- condition on events_log_order, evaluated once per scan; and a STABLE
-- PL/pgSQL function runs its statement on the caller's snapshot, as the SQL
-- function did, so pg_current_snapshot() is the caller's.
create or replace function event_horizon() returns bigint language plpgsql stable as $$
begin
  return (
    select least(
      pg_snapshot_xmax(s.snap)::text::bigint,
      (select min(x::text::bigint) from pg_snapshot_xip(s.snap) x
        where not exists (
          select 1 from pg_stat_activity a
           where a.backend_xid is not null
             and a.datid is not null
             and a.datid <> (select oid from pg_database where datname = current_database())
             -- backend_xid is the 32-bit xid; x carries its epoch above
             and a.backend_xid::text::bigint = x::text::bigint % 4294967296)))
      from (select pg_current_snapshot() as snap) s);
end
$$;
