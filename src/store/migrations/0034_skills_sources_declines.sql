-- Skills from labels and channels, and declines that run out (issue #20,
-- the gaps of items 2 and 5; docs/routing.md).
--
-- labels.required_skills: {skill: minimum level} a conversation carrying the
-- label needs (the agent skills' scale, 1-10).
-- channel_routing: the same per channel (widget, qiscus, rapidpro, api,
-- mqtt, offline), set with PUT /api/v1/channels/:channel/routing. A channel
-- nobody configured has no row and requires nothing.
-- The conversation's required_skills stays the one merged requirement
-- (sb_required_skills in src/routing/functions.sql: the higher level per
-- skill over the opener's, its department's, its channel's and its labels').
alter table labels add column required_skills jsonb not null default '{}';

create table channel_routing (
  channel         text primary key,
  required_skills jsonb not null default '{}',
  updated_at      timestamptz not null,
  updated_by      uuid
);

-- When the last decline (or expiry) of a waiting conversation happened: its
-- declined_by list is cleared one offer_timeout_s later, so a conversation
-- every agent declined is offered again instead of waiting for ever.
alter table conversations add column declined_at timestamptz;
create index conversations_declined on conversations (declined_at) where state = 'queued' and declined_at is not null;
