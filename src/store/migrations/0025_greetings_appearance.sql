-- The widget's look and proactive greetings (issue #18, items 7 and 8).
--
-- widget_appearance: one row at most (the primary key is the constant true),
-- replaced whole by PUT /api/v1/widget-settings; no row means the defaults of
-- src/appearance/appearance.ts. The checks repeat the API's rules so no other
-- writer can store a colour the widget cannot use.
create table widget_appearance (
  id                 boolean primary key default true check (id),
  color              text not null check (color ~ '^#[0-9a-f]{6}$'),
  position           text not null check (position in ('bottom-right', 'bottom-left')),
  launcher_text      text not null check (char_length(launcher_text) between 1 and 40),
  title              text not null check (char_length(title) between 1 and 60),
  show_agent_avatars boolean not null,
  updated_at         timestamptz not null,
  updated_by         uuid
);

-- A greeting: the message the widget opens with when every condition of its
-- trigger holds in the visitor's page (time on the page, the page's address
-- matching a glob, the visitor's first visit). Evaluated by the loader in the
-- host page; the server only stores and counts.
create table greetings (
  id             uuid primary key,
  name           text not null check (char_length(name) between 1 and 100),
  message        text not null check (char_length(message) between 1 and 500),
  enabled        boolean not null default true,
  after_seconds  integer check (after_seconds between 0 and 3600),
  url_pattern    text check (char_length(url_pattern) between 1 and 200),
  first_visit    boolean not null default false,
  created_at     timestamptz not null,
  updated_at     timestamptz not null
);

-- What greetings did: shown to a visitor, and that visitor then opening a
-- chat. The primary key is the abuse guard and the "once": a visitor counts
-- at most once per greeting and kind however often the widget (or anyone
-- else) posts, on PostgreSQL and PGlite alike. A deleted greeting takes its
-- counts with it.
create table greeting_events (
  greeting_id uuid not null references greetings (id) on delete cascade,
  visitor_id  text not null check (char_length(visitor_id) between 1 and 100),
  kind        text not null check (kind in ('shown', 'opened')),
  created_at  timestamptz not null,
  primary key (greeting_id, visitor_id, kind)
);
-- the Greetings report: events in a period
create index greeting_events_by_time on greeting_events (created_at);
