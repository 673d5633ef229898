-- The client address a chat session was started from (behind trusted
-- proxies, the one in X-Forwarded-For), so the limits on anonymous sessions
-- per address (src/realtime/session-limits.ts) are counted in the database
-- and hold across processes. Sessions from before this migration have none
-- and count for no address.
alter table customer_sessions add column client_address text;

-- Both limits look at one address's sessions heard from lately: those
-- started in the last minute, and the live ones (a session silent for longer
-- than the keep-alive is being abandoned).
create index customer_sessions_by_address on customer_sessions (client_address, last_seen_at) where client_address is not null;
