-- Refusals of a room's agent list (a 4xx other than 401), counted apart from
-- its failed lists of every kind.
--
-- fetch_failures counts every failed list (no answer, a 5xx, a refused login
-- or a 401 too): it sets the back-off. The give-up after three refusals read
-- the same count, so a room that backed off through a login outage was given
-- up at the first refusal after it ("refused 4 times"), though Qiscus had
-- refused it once. list_refusals counts the refusals alone, in a row: a list
-- Qiscus answers sets it back to 0, and so does an assignment.
alter table qiscus_rooms add column list_refusals integer not null default 0;
