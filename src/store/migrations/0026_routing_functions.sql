-- The routing functions (issue #22, item 1) first came with this migration.
-- They now live in src/routing/functions.sql, which migrate() applies after
-- the numbered migrations whenever its text changes: one file that every
-- change to the allocation policy edits, so two changes to one function meet
-- as a merge conflict instead of one migration silently replacing another's.
select 1;
