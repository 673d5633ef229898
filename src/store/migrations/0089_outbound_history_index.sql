-- Finished outbound requests are kept DELIVERY_LOG_DAYS (src/retention/):
-- every process deletes, every ten minutes, the finished rows made before
-- then, oldest first. No index held finished rows by age, so each pass read
-- the whole table to find none. Pending rows stay out of it: they are the
-- worker's, found through outbound_due.
create index outbound_finished_by_age on outbound_requests (created_at, id) where state <> 'pending';
