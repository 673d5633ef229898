-- The event log without a global lock (issue #22, item 2).
--
-- Event ids are drawn when a transaction inserts its events, not when it
-- commits: A may draw 10, B draw 11 and commit first. Until now every writer
-- held one advisory lock from its events insert to its commit, so ids became
-- visible in order; every chat message queued on it. Instead, each event now
-- carries `xid_bound`, and the log is read in (xid_bound, id) order, only
-- below a horizon every reader can compute from its own snapshot.
--
-- xid_bound = greatest(own xid, the newest finished xid this statement's
-- snapshot knows of). So:
--   * it is at least the writer's xid: while the writer is open, every
--     snapshot's xmin (the oldest xid still running) is at most its xid,
--     so `xid_bound < pg_snapshot_xmin(...)` excludes its events; once the
--     writer and every older transaction have ended, xmin passes the bound
--     and its events are final, never to be joined by an earlier position;
--   * a transaction whose events insert starts after another has committed
--     sees that commit in its snapshot: its bound is at least the other's
--     xid and the other's own bound, and its ids are drawn later, so its
--     events come after the other's. Writers about one conversation hold
--     its row lock to commit, so per conversation the log order is the
--     commit order and the id order.
-- A reader that pages with a cursor (xid_bound, id) and reads only rows
-- with xid_bound below its snapshot's xmin never skips an event that
-- commits late, and never reads one twice.

-- The bound of the events this statement inserts.
create function event_xid_bound() returns bigint language sql stable as $$
  select greatest(pg_current_xact_id()::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)
$$;

-- Events with a bound below this are final: their transactions, and every
-- older one that could write to this database, have ended.
--
-- The snapshot's xmin alone would do, but transaction ids are cluster-wide:
-- a transaction left open in another database of the same server (an idle
-- session, a long report, another application) would hold back every
-- reader here, though it can never add an event to this log. So the
-- horizon is the oldest transaction still running in the snapshot (xip)
-- that is not known to run in another database; pg_stat_activity names
-- the database of each running backend's transaction. An xid it does not
-- show (finished since, or hidden from this role) counts as this
-- database's: the horizon may stop short, never pass an event that can
-- still commit. A backend never changes database, so "runs in another
-- database" stays true for that xid whenever it was read.
create function event_horizon() returns bigint language sql stable as $$
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
  from (select pg_current_snapshot() as snap) s
$$;

-- Existing events get 0: they were written under the old lock, in id order,
-- before any event with a real bound. A constant default adds the column
-- without rewriting the table; new rows then take the computed one.
alter table events add column xid_bound bigint not null default 0;
alter table events alter column xid_bound set default event_xid_bound();
create index events_log_order on events (xid_bound, id);

-- Each consumer's position in the log is now (last_xid_bound, last_event_id).
-- 0 keeps every cursor where it was: old events carry 0 too.
alter table outbox_cursors add column last_xid_bound bigint not null default 0;
