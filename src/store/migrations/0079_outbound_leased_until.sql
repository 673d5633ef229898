-- The end of the lease of an attempt in flight, null once its attempt is
-- recorded. next_attempt_at holds the lease too (the claim pushes it past the
-- attempt's deadline), but it holds a retry's time as well, and a change that
-- makes waiting rows due at once (RapidPro setting a new callback URL) must
-- tell the two apart: cutting short a lease in flight had the row sent again
-- beside its attempt, and that attempt's own record then changed nothing
-- (RECORD matches the lease). A lease that ran out (its process died) is no
-- attempt in flight: leased_until in the past.
alter table outbound_requests add column leased_until timestamptz;
