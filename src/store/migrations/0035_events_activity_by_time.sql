-- Cost as work grows (issue #22): the dashboard's activity (GET /api/v1/stats)
-- reads the assignments and resolutions of a recent window. Its query asks
-- for `type in ('conversation.assigned', 'conversation.resolved')`, which is
-- exactly migration 0006's partial index predicate, so the planner drops
-- that condition and is left with a range on created_at alone: with the
-- index ordered (type, created_at) that is a walk of the whole index. With
-- 1,000,000 closed conversations (2,000,000 such events) the last hour took
-- 18,000 page reads and 1.8 s; ordered (created_at, type) it is a range scan
-- of the window, 12 ms. The reports (src/reports/query.ts), which ask for
-- one type and a period, read the same range and skip the other type.
-- Same name and predicate: only the column order changes.
drop index events_assignments_resolutions;
create index events_assignments_resolutions on events (created_at, type)
  where type in ('conversation.assigned', 'conversation.resolved');
