-- The rooms whose assign_agent Qiscus has not confirmed: the poll looks among
-- them for an answer recorded but never settled (src/channels/qiscus/stranded.ts).
-- Most rooms are confirmed once assigned, and keep confirmed_at for good, so
-- this stays small where the open assignments (conversations_by_state) grow
-- with the agents' capacity across every channel.
create index qiscus_rooms_unconfirmed on qiscus_rooms (outbound_id) where confirmed_at is null and outbound_id is not null;
