import type { Db } from '../store/db.js';
import { UNSENT_FILE_LIFETIME_MS, UNSENT_SWEEP_EVERY_MS } from './quota.js';
import type { FileStore } from './store.js';

/**
 * Removes from the bucket the objects of attachments whose rows were deleted
 * (attachment_deletions, filled by a trigger in the deleting transaction).
 * A failed removal stays queued for the next pass; several processes share
 * the queue without removing one object twice (skip locked).
 *
 * The queue holds only objects of the bucket (the trigger queues rows with
 * storage = 's3'). A process without S3 settings runs this sweeper too
 * (src/server.ts): its store removes nothing, so it leaves the queue alone —
 * not even locking it, which would make a process with the bucket skip those
 * keys — and they wait for a process that has the bucket.
 */
export async function removeDeletedFiles(db: Db, store: FileStore, batch = 500): Promise<number> {
  const remove = store.remove;
  if (!remove) return 0;
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ key: string }>('select key from attachment_deletions order by created_at limit $1 for update skip locked', [batch]);
    if (rows.length === 0) return 0;
    const keys = rows.map((r) => r.key);
    await remove.call(store, keys);
    await tx.query('delete from attachment_deletions where key = any ($1::text[])', [keys]);
    return keys.length;
  });
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
  const rows = await db.query(
    `delete from attachments where id in (
       select id from attachments
        where not sent and uploaded_by = 'customer' and created_at < $1
        order by created_at limit $2
          for update skip locked)
     returning 1`,
    [before, batch],
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
    await removeDeletedFiles(db, store, batch).catch(onError);
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
