import type { Db } from '../store/db.js';
import type { FileStore } from './store.js';

/**
 * Removes from the bucket the objects of attachments whose rows were deleted
 * (attachment_deletions, filled by a trigger in the deleting transaction).
 * A failed removal stays queued for the next pass; several processes share
 * the queue without removing one object twice (skip locked).
 */
export async function removeDeletedFiles(db: Db, store: FileStore, batch = 500): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ key: string }>('select key from attachment_deletions order by created_at limit $1 for update skip locked', [batch]);
    if (rows.length === 0) return 0;
    const keys = rows.map((r) => r.key);
    await store.remove(keys);
    await tx.query('delete from attachment_deletions where key = any ($1::text[])', [keys]);
    return keys.length;
  });
}

export interface FileSweeper {
  stop(): Promise<void>;
}

export function startFileSweeper(db: Db, store: FileStore, intervalMs: number, onError: (error: unknown) => void): FileSweeper {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    // One pass at a time: a slow bucket skips ticks instead of piling them up.
    running ??= removeDeletedFiles(db, store)
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
