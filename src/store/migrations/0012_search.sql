-- Search (GET /api/v1/search, src/search/): full-text over message text and
-- over the customer's id, name and email.
--
-- Text configuration `simple`: lower-casing only, no stemming and no stop
-- words. A help desk hears many languages in one table; an English stemmer
-- would mangle Indonesian or Portuguese words and drop short words that are
-- meaningful elsewhere. People search for what was literally written.

-- Each message's words, kept beside the message rather than in it: the
-- messages table and everything that reads `select *` or `returning *` from
-- it (the API, event payloads) stay as they were. Stored, not an expression
-- index: checking a row then costs a lookup instead of running to_tsvector
-- again, which matters when a common word walks back through the newest
-- messages, or an agent's search goes through their own conversations.
-- conversation_id and created_at are copied so a search never has to read
-- the messages themselves until it shows a page.
create table message_search (
  message_id      bigint primary key references messages (id) on delete cascade,
  conversation_id uuid not null,
  created_at      timestamptz not null,
  vector          tsvector not null
);
create index message_search_vector on message_search using gin (vector);
-- results come newest first, and a date range (from, to) is a range of this index
create index message_search_by_time on message_search (created_at, message_id);
-- An agent's search starts from the conversations they hold or held and
-- reads each one's words from this index alone (an index-only scan: the
-- words are in it), instead of one page of the table per message. It costs
-- about as much disk as the table (≈ 190 MB per million messages) and halved
-- an agent's p99 in bench/search.ts.
create index message_search_by_conversation on message_search (conversation_id, created_at, message_id) include (vector);
-- How common each word is decides the plan: a rare word reads the GIN index,
-- a common one walks back through the newest messages until enough match.
-- The default statistics list only the most common words, and any word they
-- do not list counts as in 0.5 % of the messages instead of a handful; the
-- walk is then chosen for a rare word and reads everything.
alter table message_search alter column vector set statistics 1000;

-- Kept in the statement that writes the message, so the words are searchable
-- exactly when the message is committed. Messages without text (attachments
-- only) have no row.
create function message_search_sync() returns trigger language plpgsql as $$
begin
  if new.text is null then
    delete from message_search where message_id = new.id;
  else
    insert into message_search (message_id, conversation_id, created_at, vector)
    values (new.id, new.conversation_id, new.created_at, to_tsvector('simple'::regconfig, new.text))
    on conflict (message_id) do update set vector = excluded.vector;
  end if;
  return null;
end
$$;
create trigger messages_search after insert or update of text on messages
  for each row execute function message_search_sync();

insert into message_search (message_id, conversation_id, created_at, vector)
select id, conversation_id, created_at, to_tsvector('simple'::regconfig, text) from messages where text is not null;

-- The customer's words: id, name and email. The expression is spelled the
-- same in src/search/sql.ts (CUSTOMER_VECTOR) so the planner uses the index.
create index conversations_customer_search on conversations
  using gin (to_tsvector('simple'::regconfig, customer_id || ' ' || coalesce(customer ->> 'name', '') || ' ' || coalesce(customer ->> 'email', '')));
-- An email typed whole is matched exactly too (the tsvector holds it as one
-- token, so part of an email is not found); a customer id typed whole uses
-- conversations_by_customer.
create index conversations_customer_email on conversations (lower(customer ->> 'email'));

-- Who held a conversation: an agent searches the conversations they hold or
-- held (assigned or transferred to them), as src/customers/statistics.ts
-- decides for the customer panel. Only those two event types are indexed.
create index events_holders on events (agent_id, conversation_id)
  where type in ('conversation.assigned', 'conversation.transferred');
-- and the conversations an agent holds or last held, whatever their state
-- (conversations_by_agent covers assigned ones only). With the id in it, and
-- the conversation id in events_holders, listing an agent's conversations is
-- an index-only scan: 1 ms instead of 12–40 ms for 1,000 in bench/search.ts.
create index conversations_by_holder on conversations (agent_id, id);
