-- An outbound row made for a conversation that was erased since (its
-- webhook deliveries, the channels' calls, its emails): an attempt logged
-- after the erasure keeps its status code and times, not the receiver's
-- reply, which may echo what it was sent (a webhook receiver's echo of the
-- payload, a channel's answer naming the customer). The erasure
-- (src/erasure/erase.ts) nulls the replies already logged and sets this;
-- RECORD (src/events/outbound/outbox.ts) reads it from the row it locks, so
-- an attempt in flight when the erasure ran, recorded after its commit
-- (or waiting on its lock), logs no reply either. Before, such an attempt
-- kept the reply (found by review).
alter table outbound_requests add column erased boolean not null default false;

-- The rows of conversations erased before this: their events outlive the
-- conversation (redacted), and the erased emails carry a header saying so.
update outbound_requests o
   set erased = true
 where o.event_id in (select e.id from events e
                       where e.conversation_id is not null
                         and not exists (select 1 from conversations c where c.id = e.conversation_id))
    or (o.producer = 'email' and o.headers ? 'erased');
