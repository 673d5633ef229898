-- A transaction whose outbound requests are all leased by this process's
-- worker already does not wake the workers (issue #22, Qiscus paced 500/s).
--
-- A Qiscus allocation pass enqueues its assign_agent calls and claims them in
-- its own transaction, then hands them to the running worker
-- (src/channels/qiscus/allocate.ts). The NOTIFY that the insert sent
-- (migration 0027) still woke every process's worker on its commit, and each
-- ran a claim that could find nothing: the calls were leased. At 500 rooms/s
-- that was one wasted claim a pass, and the commit took the cluster-wide
-- notification lock for nothing.
--
-- Such a transaction sets switchboard.outbox_handed to 'on' (transaction
-- local) in the statement that inserts the requests; the trigger then sends
-- nothing. If its claim then leaves any of them unleased (a room whose
-- earlier call is still pending), it sends the NOTIFY itself.

create or replace function notify_outbox() returns trigger language plpgsql as $$
begin
  if current_setting('switchboard.outbox_handed', true) is distinct from 'on' then
    perform pg_notify('switchboard_outbox', '');
  end if;
  return null;
end
$$;
