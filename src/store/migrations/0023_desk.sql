-- The agent's desk, part 1 (issue #17, items 2-4): private notes, labels and
-- canned responses.

-- A note is a message only agents see. It lives among the messages so it
-- takes its place in the conversation's order and in `after=<id>` paging;
-- every reader the customer reaches filters `not private`.
alter table messages add column private boolean not null default false;
alter table messages add column updated_at timestamptz;
-- a note is always written by an agent
alter table messages add constraint messages_private_by_agent check (not private or (sender = 'agent' and sender_id is not null));

-- The label catalogue, managed by admins. Names are unique whatever their case.
create table labels (
  id         uuid primary key default gen_random_uuid(),
  name       text not null check (length(name) between 1 and 50),
  color      text not null check (color ~ '^#[0-9a-f]{6}$'),
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index labels_name_key on labels (lower(name));

-- A conversation's labels, by name, in the conversation row itself: every
-- `select *` of a conversation (API answers, the data of every
-- conversation.* event, webhooks) carries them with no extra read. The
-- catalogue keeps them honest: a rename or a delete rewrites these arrays in
-- the same transaction, under the label row's lock that PUT .../labels
-- shares.
alter table conversations add column labels text[] not null default '{}';
create index conversations_by_label on conversations using gin (labels);

-- Canned responses: shared ones (admins and supervisors manage them) and
-- personal ones (their owner's only). A shortcut is unique per scope and owner.
create table canned_responses (
  id         uuid primary key default gen_random_uuid(),
  scope      text not null check (scope in ('shared', 'personal')),
  owner_id   uuid references agents (id),
  shortcut   text not null check (length(shortcut) between 1 and 50),
  text       text not null check (length(text) between 1 and 10000),
  created_by uuid references agents (id),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check ((scope = 'shared') = (owner_id is null))
);
create unique index canned_responses_shared_shortcut on canned_responses (lower(shortcut)) where scope = 'shared';
create unique index canned_responses_personal_shortcut on canned_responses (owner_id, lower(shortcut)) where scope = 'personal';
