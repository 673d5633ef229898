import type { Queryable } from '../store/db.js';

// An object store's upload is written to the bucket before its row commits
// (no lock is held over a network upload). A process that dies in between —
// killed, out of memory, the machine gone — left an object nothing referred
// to and nothing would remove. So the key is queued for removal first, not
// due until UPLOAD_GRACE_MS later, and the transaction that commits the row
// takes it off the queue: an upload that never commits is removed by the
// file sweeper (src/files/deletions.ts) once that time has passed.

/**
 * How long an upload may take before its object may be removed. Far longer
 * than one can take: a stalled upload is ended by the socket's silence
 * (S3_TIMEOUTS), and a 25 MB file needs minutes on the slowest link.
 */
export const UPLOAD_GRACE_MS = 3_600_000;

/** An upload's place in the removal queue: its key and when it falls due. */
export interface UploadIntent {
  key: string;
  due: Date;
}

/** Queues `key` for removal at `now` + UPLOAD_GRACE_MS, committed before a byte is sent to the bucket. */
export async function recordUploadIntent(db: Queryable, key: string, now: Date): Promise<UploadIntent> {
  const due = new Date(now.getTime() + UPLOAD_GRACE_MS);
  await db.query('insert into attachment_deletions (key, created_at, next_attempt_at) values ($1, $2, $3)', [key, now, due]);
  return { key, due };
}

/**
 * In the transaction that inserts the attachment row: the key leaves the
 * queue. False once `due` has passed (`now`), or when a sweeper holds the
 * key (its next_attempt_at a lease, not `due`): the upload outlasted
 * UPLOAD_GRACE_MS and its object may be removed already, so the row must not
 * commit. Not the lease alone: a sweeper whose bucket did not answer gives
 * `due` back, though the bucket may have deleted the object all the same.
 */
export async function claimUploadIntent(tx: Queryable, intent: UploadIntent, now: Date): Promise<boolean> {
  if (now.getTime() >= intent.due.getTime()) return false;
  const rows = await tx.query('delete from attachment_deletions where key = $1 and next_attempt_at = $2 returning key', [intent.key, intent.due]);
  return rows.length === 1;
}

/**
 * The row did not commit. The object taken back (`removed`): the key leaves
 * the queue, while it is still this upload's (a sweeper's lease is left to
 * end). Not taken back (the bucket failing, or the upload failing, its
 * object there or not): the key falls due at the sweeper's next pass —
 * queued again if a sweeper removed it meanwhile, and due again if a
 * sweeper holds it now: either may have asked the bucket before the object
 * arrived, and a sweeper leaves in the queue a key whose lease was changed
 * under it (removeDeletedFiles).
 */
export async function settleUploadIntent(db: Queryable, intent: UploadIntent, removed: boolean): Promise<void> {
  if (removed) {
    await db.query('delete from attachment_deletions where key = $1 and next_attempt_at = $2', [intent.key, intent.due]);
    return;
  }
  await db.query('insert into attachment_deletions (key) values ($1) on conflict (key) do update set next_attempt_at = null', [intent.key]);
}
