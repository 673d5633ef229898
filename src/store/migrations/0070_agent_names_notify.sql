-- A rename made in any process reaches every process's agent names at once
-- (src/realtime/agent-names.ts: the names shown on the control topics,
-- `sessionInfo.agent`). They were kept for 30 s and read again, so a rename
-- committed by another process showed only then. The trigger sends NOTIFY
-- switchboard_agent_names when an agent's name or deletion changes: rare
-- changes (NOTIFY's cluster-wide lock at commit, 0027, costs them alone).
-- Its column list keeps it out of the routing changes' updates of agents
-- (load, status, last_assigned_at), as 0054 did for the auth trigger.
-- The payload is empty: a process reads every name again, one statement.
create function notify_agent_names() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_agent_names', '');
  return null;
end
$$;

create trigger agents_notify_names
  after update of name, deleted_at on agents
  for each row
  when (old.name is distinct from new.name or old.deleted_at is distinct from new.deleted_at)
  execute function notify_agent_names();
