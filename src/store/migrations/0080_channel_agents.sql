-- Channels' own queues (src/routing/channel-queues.ts): until now an admin
-- could set a Qiscus agent's mirror online, give it other departments, a
-- password or a role, and give people the @qiscus department; the engine
-- then gave Qiscus rooms to people and mirrors without Qiscus hearing of it.
-- That is refused from now on; this puts back what was changed before.
-- Mirrors: offline as the allocator makes them (no offline_since: no grace
-- runs out to requeue their rooms, no status to resume on a heartbeat), in
-- their channel's queue alone, no password, no role, no session.
update agents
   set status = 'offline', offline_since = null, resume_status = null, departments = array['@' || source],
       password_hash = '!', role = 'agent'
 where source is not null and deleted_at is null
   and (status <> 'offline' or offline_since is not null or resume_status is not null
        or departments is distinct from array['@' || source] or password_hash <> '!' or role <> 'agent');
update auth_tokens t set revoked_at = now()
  from agents a
 where a.id = t.agent_id and a.source is not null and t.revoked_at is null;
-- People: out of every channel's queue.
update agents
   set departments = array(select u.d from unnest(departments) with ordinality as u(d, n) where u.d not like '@%' order by u.n)
 where source is null and exists (select 1 from unnest(departments) as d where d like '@%');
