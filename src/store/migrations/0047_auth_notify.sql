-- Token lookups cached per process (src/agents/tokens.ts, issue #22): every
-- API call looked its bearer token up in the store, one round trip of the
-- two a new conversation costs. A process may keep what it looked up only
-- while it hears, on a connection of its own, every change that can make a
-- token it admitted no longer good: a token revoked, shortened or deleted,
-- an agent's role changed, an agent deleted. These triggers send NOTIFY
-- switchboard_auth for those, whoever makes them (another process, SQL);
-- PostgreSQL delivers it as the change commits, and each process then drops
-- its whole cache. Expiry needs no notice: the cache keeps each token's
-- expires_at and checks it against the clock.
--
-- NOTIFY takes a cluster-wide lock from pre-commit to the end of the
-- transaction (0027): these changes are rare (logout, password, role,
-- deletion), and nothing on the routing or chat paths makes them — the
-- agents trigger fires only when role or deleted_at actually changes, not
-- for the load and status updates every routing change makes. The payload is
-- empty, so a transaction sends one notification however many rows it changes.

create function notify_auth() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_auth', '');
  return null;
end
$$;

create trigger auth_tokens_notify_auth
  after update or delete on auth_tokens
  for each statement execute function notify_auth();

create trigger agents_notify_auth_changed
  after update on agents
  for each row
  when (old.role is distinct from new.role or old.deleted_at is distinct from new.deleted_at)
  execute function notify_auth();

create trigger agents_notify_auth_deleted
  after delete on agents
  for each statement execute function notify_auth();
