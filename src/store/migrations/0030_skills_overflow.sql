-- Skills and overflow (issue #20, items 2 and 4).
--
-- agents.skills: {skill: level 1-10}, what an admin says the agent can do.
-- conversations.requested_skills: what the opener asked for (POST
-- /api/v1/conversations required_skills), kept so the requirement can be
-- worked out again when the conversation moves to another department.
-- The other three are the department's terms as they stood when the
-- conversation entered it, written by the trigger sb_conversation_terms
-- (src/routing/functions.sql), so matching reads only the row:
--   required_skills       requested_skills merged with the department's
--                         required_skills (the higher level per skill)
--   skills_relax_after_s  the department's; null: the requirement never drops
--   overflow              the department's [{after_s, to}] chain
alter table agents add column skills jsonb not null default '{}';
alter table conversations add column requested_skills jsonb not null default '{}';
alter table conversations add column required_skills jsonb not null default '{}';
alter table conversations add column skills_relax_after_s int;
alter table conversations add column overflow jsonb not null default '[]';
