-- When Switchboard takes a Qiscus room back from its agent (a supervisor's
-- requeue, a transfer to '@qiscus', the agent deleted), the Qiscus channel
-- asks Qiscus to remove that agent from the room. Its feed reads the event
-- log from here; rooms taken back before the upgrade are history.
insert into outbox_cursors (name, last_event_id) select 'qiscus', coalesce(max(id), 0) from events
on conflict (name) do nothing;
