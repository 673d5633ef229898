-- Erasure (issue #17 item 1): DELETE /api/v1/conversations/:id rewrites the
-- webhook deliveries made from the erased conversation's events, found by
-- their event id; without this index that is a scan of every delivery ever
-- made. The bucket objects of the erased attachments are queued by the
-- attachment_deletions trigger of migration 0020, in the same transaction.
create index outbound_by_event on outbound_requests (event_id) where event_id is not null;
