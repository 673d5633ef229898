-- Customer satisfaction (CSAT): one rating per conversation, given by its
-- customer after it was resolved. The primary key is what makes "once" hold:
-- two posts racing for the same conversation both reach the insert, and the
-- unique index lets exactly one of them in, on PostgreSQL and PGlite alike.
-- The agent and department are the conversation's at resolution, copied so
-- the Satisfaction report reads this table alone (a closed conversation never
-- changes agent or department again).

create table ratings (
  conversation_id uuid primary key references conversations (id),
  score           smallint not null check (score between 1 and 5),
  comment         text check (comment is null or char_length(comment) <= 1000),
  agent_id        uuid references agents (id),
  department      text,
  created_at      timestamptz not null
);
-- the Satisfaction report: ratings given in a period
create index ratings_by_time on ratings (created_at);
