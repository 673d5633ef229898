import type { Db } from '../store/db.js';
import { NOTE_UNRECLAIMED, unreclaimedOn } from '../store/vacuum.js';
import { UNSENT_FILE_LIFETIME_MS, UNSENT_SWEEP_EVERY_MS } from './quota.js';
import type { FileStore, RemovalRefusal } from './store.js';

/** The longest wait between two tries of a key the bucket refused. */
export const REFUSED_RETRY_MAX_MS = 3_600_000;

/** Some keys of a pass were refused: they wait for their next try, the rest were removed. */
export class RemovalRefused extends Error {
  constructor(
    readonly removed: number,
    readonly refusals: readonly RemovalRefusal[],
  ) {
    const first = refusals[0]!;
    super(
      `the bucket refused to delete ${refusals.length} object(s), retried later (at most an hour apart), first ${first.key}: ${first.reason}; ${removed} other(s) removed`,
    );
    this.name = 'RemovalRefused';
  }
}

/**
 * How long a pass holds the keys it took while it asks the bucket: longer
 * than the S3 client can take (3 tries of at most S3_TIMEOUTS each, and the
 * waits between them), so no other process takes them meanwhile; a process
 * that dies holding them leaves them due again after this.
 */
export const REMOVAL_LEASE_MS = 300_000;

/**
 * Removes from the bucket the objects of attachments whose rows were deleted
 * (attachment_deletions, filled by a trigger in the deleting transaction),
 * oldest first, `batch` keys at most; answers how many were removed. The
 * keys removed leave the queue. A key the bucket refuses (an object lock, a
 * legal hold) stays, with its reason (last_error), and is not tried again
 * before its next_attempt_at: 5 s after the first refusal, twice as long
 * after each further one, an hour at most — so it never holds up the keys
 * queued after it. The pass then throws RemovalRefused, after committing
 * what it removed. A bucket that could not be asked at all (down,
 * unreachable, timed out) changes nothing: the error is thrown and every key
 * is tried again at the next pass.
 *
 * No transaction is open while the bucket is asked — on PGlite every
 * transaction takes one lock, and a bucket that does not answer would stop
 * the whole process; on PostgreSQL it would hold a connection of the pool.
 * The keys are taken in a short statement (skip locked) that sets their
 * next_attempt_at REMOVAL_LEASE_MS ahead, so that several processes sharing
 * the queue never remove one object twice; the outcome is written in a
 * second short transaction (or, the bucket not answering, next_attempt_at
 * given back).
 *
 * The queue holds only objects of the bucket (the trigger queues rows with
 * storage = 's3'). A process without S3 settings runs this sweeper too
 * (src/server.ts): its store removes nothing, so it leaves the queue alone —
 * not even taking keys, which would make a process with the bucket skip
 * them — and they wait for a process that has the bucket.
 */
export async function removeDeletedFiles(db: Db, store: FileStore, batch = 500, now: Date = new Date()): Promise<number> {
  const remove = store.remove;
  if (!remove) return 0;
  const lease = new Date(now.getTime() + REMOVAL_LEASE_MS);
  const taken = await db.query<{ key: string; was: string | null }>(
    `with due as (
       select key, next_attempt_at from attachment_deletions
        where next_attempt_at is null or next_attempt_at <= $2
        order by created_at limit $1
          for update skip locked)
     update attachment_deletions d set next_attempt_at = $3
       from due where d.key = due.key
     returning d.key, due.next_attempt_at::text as was`,
    [batch, now, lease],
  );
  if (taken.length === 0) return 0;
  const keys = taken.map((r) => r.key);
  let refusals: RemovalRefusal[];
  try {
    refusals = await remove.call(store, keys);
  } catch (error) {
    // Not the bucket's answer about any key: each is due again as it was. Not
    // given back (the database failing too), they wait for the lease to end.
    await db
      .query(
        `update attachment_deletions d set next_attempt_at = t.was::timestamptz
           from unnest($1::text[], $2::text[]) as t (key, was)
          where d.key = t.key and d.next_attempt_at = $3`,
        [keys, taken.map((r) => r.was), lease],
      )
      .catch(() => undefined);
    throw error;
  }
  const refused = new Set(refusals.map((r) => r.key));
  const done = keys.filter((key) => !refused.has(key));
  await db.transaction(async (tx) => {
    // only the keys still under this pass's lease: one an upload queued again meanwhile (its object may
    // have arrived after the bucket was asked, upload-intent.ts) stays for the next pass
    if (done.length > 0) await tx.query('delete from attachment_deletions where key = any ($1::text[]) and next_attempt_at = $2', [done, lease]);
    if (refusals.length > 0) {
      await tx.query(
        `update attachment_deletions d
            set attempts = d.attempts + 1,
                next_attempt_at = $3::timestamptz + least(interval '1 millisecond' * $4::bigint, interval '5 seconds' * power(2, least(d.attempts, 20))),
                last_error = r.reason
           from unnest($1::text[], $2::text[]) as r (key, reason)
          where d.key = r.key`,
        [refusals.map((r) => r.key), refusals.map((r) => r.reason), now, REFUSED_RETRY_MAX_MS],
      );
    }
  });
  if (refusals.length > 0) throw new RemovalRefused(done.length, refusals);
  return done.length;
}

/**
 * Deletes, oldest first and `batch` at most, the files customers uploaded
 * before `before` and never sent in a message (src/files/quota.ts): nothing
 * will refer to them any more. Their bytes go with the rows (the database
 * store), or their objects are queued for removal from the bucket by the
 * attachments trigger in this transaction, removed after it commits
 * (removeDeletedFiles). A file a message is sending right now is skipped
 * (skip locked), and several processes share the work.
 */
export async function removeUnsentFiles(db: Db, before: Date, batch = 500): Promise<number> {
  // the files' bytes (a customer's photo of an ID card) stay in PGlite's files until a rewrite: noted in the same statement
  const rows = await db.query(
    `with gone as (
       delete from attachments where id in (
         select id from attachments
          where not sent and uploaded_by = 'customer' and created_at < $1
          order by created_at limit $2
            for update skip locked)
       returning 1
     ), noted as (${NOTE_UNRECLAIMED('$3', 'gone')})
     select 1 from gone`,
    [before, batch, unreclaimedOn(db.kind, ['attachments', 'attachment_bytes'])],
  );
  return rows.length;
}

export interface FileSweeper {
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, removes from the bucket the objects of deleted files;
 * every UNSENT_SWEEP_EVERY_MS (at once again while a pass finds a full
 * batch), first deletes the customers' files left unsent for
 * UNSENT_FILE_LIFETIME_MS.
 */
export function startFileSweeper(
  db: Db,
  store: FileStore,
  intervalMs: number,
  onError: (error: unknown) => void,
  options: { now?: () => Date; unsentEveryMs?: number; batch?: number } = {},
): FileSweeper {
  const now = options.now ?? (() => new Date());
  const unsentEveryMs = options.unsentEveryMs ?? UNSENT_SWEEP_EVERY_MS;
  const batch = options.batch ?? 500;
  let unsentDue = 0;
  const pass = async () => {
    const at = now().getTime();
    if (at >= unsentDue) {
      unsentDue = at + unsentEveryMs;
      await removeUnsentFiles(db, new Date(at - UNSENT_FILE_LIFETIME_MS), batch).then(
        (removed) => void (removed >= batch && (unsentDue = 0)),
        (error: unknown) => onError(new Error('removing unsent files failed; retrying', { cause: error })),
      );
    }
    await removeDeletedFiles(db, store, batch, now()).catch(onError);
  };
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    // One pass at a time: a slow bucket skips ticks instead of piling them up.
    running ??= pass()
      .catch(onError)
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
