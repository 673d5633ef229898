-- A queued object the bucket refuses to delete (an object lock, a legal
-- hold, a bucket policy) no longer holds up the queue. The file sweeper
-- (src/files/deletions.ts) used to retry its whole oldest batch whenever any
-- key failed, dequeuing none: one object that always failed, with a full
-- batch of keys queued behind it, kept every later erasure's objects in the
-- bucket. Now the keys removed leave the queue, and a refused key waits for
-- its own next try, later after each refusal (an hour apart at most), while
-- the keys behind it go.
--
-- attempts:        refusals so far (0: never tried, or only in passes the
--                  bucket did not answer at all, which count for no key)
-- next_attempt_at: not tried before then; null: at the next pass
-- last_error:      the bucket's reason at the latest refusal
alter table attachment_deletions
  add column attempts        integer not null default 0,
  add column next_attempt_at timestamptz,
  add column last_error      text;
