-- Offer and accept, and manual pick (issue #20 items 5 and 6).
-- `offered` is an open state: the conversation is held for one agent, who
-- must accept it before offer_expires_at; its slot counts against that
-- agent's capacity (load) from the offer on, so an offer never overbooks.
-- A declined or expired offer goes back to the queue with its seq, and the
-- agent who let it go is kept in declined_by so it goes to someone else.
alter table conversations drop constraint conversations_state_check;
alter table conversations add constraint conversations_state_check
  check (state in ('queued', 'offered', 'assigned', 'resolved', 'abandoned'));
alter table conversations add column offer_expires_at timestamptz;
alter table conversations add column declined_by uuid[] not null default '{}';
alter table conversations add constraint conversations_offered_has_agent
  check (state <> 'offered' or (agent_id is not null and offer_expires_at is not null));
-- the sweep looks for offers past their time
create index conversations_offers on conversations (offer_expires_at) where state = 'offered';

-- A channel re-sending an open must find an offered conversation too.
drop index conversations_open_external_ref;
create unique index conversations_open_external_ref
  on conversations (channel, external_ref)
  where external_ref is not null and state in ('queued', 'offered', 'assigned');

-- Offers an agent let expire in a row; reset by an accept and when the
-- count sets them away.
alter table agents add column offer_expiries integer not null default 0;
