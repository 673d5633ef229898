-- The Qiscus sessions (services) a room's conversation is known not to be,
-- so that a mark-as-resolved webhook Qiscus delivers again, or late, for a
-- session already over does not close the room's next conversation (Qiscus
-- resends webhooks, ms to ~1 s apart, and late; the resolve names its
-- session by service.id). Ids as text: Qiscus sends integers, a form a string.
--
-- previous_service_id: the latest_service.id of the allocation webhook that
--   opened the conversation, when that service is resolved (the session
--   before this one). Written in the statement that records the room, so no
--   one sees the conversation without it.
-- resolved_service_id: the service.id of a resolve webhook that found this
--   conversation open, written before it closes it: once the conversation is
--   closed, that session is over for good.
-- A resolve naming either on any conversation of the room (the latter on
-- another conversation than the one open) changes nothing; rows of other
-- rooms are reached through qiscus_rooms_by_room.
alter table qiscus_rooms
  add column previous_service_id text,
  add column resolved_service_id text;
