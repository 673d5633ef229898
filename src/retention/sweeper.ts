import type { Db } from '../store/db.js';
import { vacuumOnPglite } from '../store/vacuum.js';
import { OUTBOUND_TABLES, pruneDeadTokens, pruneOutboundHistory } from './prune.js';

export interface RetentionOptions {
  /** days a finished outbound request (a delivery log entry) is kept; 0 = for ever */
  deliveryLogDays: number;
  /** ms between passes */
  intervalMs: number;
  /** rows one statement deletes at most; a pass repeats while statements come back full */
  batch?: number;
  now?: () => Date;
}

export interface RetentionSweeper {
  /** One pass now (what the timer runs): the rows deleted, per table. */
  pass(): Promise<{ outbound: number; tokens: number }>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;
/** How often a process deletes old history: the rows are kept for days, so minutes late is nothing. */
export const RETENTION_INTERVAL_MS = 10 * 60_000;
/** What pruning outbound history deletes from (on delete cascade: attempts, RapidPro callback links). */
/**
 * Deletes, every `intervalMs`, what is kept only as history and would
 * otherwise grow for ever: finished outbound requests older than
 * `deliveryLogDays` and dead login tokens. Every process runs one; they
 * share the rows (skip locked).
 *
 * A pass goes on while its statements come back full, however many that
 * takes: a cap per pass was a ceiling on the rate history can be made at
 * (20 batches of 1,000 every 10 minutes, 33 rows/s), above which it grew for
 * ever. Each batch is a statement of its own, and the pass gives way between
 * two (setImmediate), so whatever waits for the store — PGlite's one
 * connection, the pool's — goes first; stop() ends it after the batch in hand.
 *
 * On PGlite, a pass that deleted rows then VACUUMs those tables: nothing else
 * would (no autovacuum), and their files would keep every deleted row's space.
 */
export function startRetentionSweeper(db: Db, options: RetentionOptions, onError: (error: unknown) => void): RetentionSweeper {
  const now = options.now ?? (() => new Date());
  const batch = options.batch ?? 1_000;
  let stopped = false;
  const drain = async (prune: (before: Date) => Promise<number>, before: Date) => {
    let total = 0;
    while (!stopped) {
      const n = await prune(before);
      total += n;
      if (n < batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  };
  const pass = async () => {
    const at = now();
    const outbound =
      options.deliveryLogDays > 0
        ? await drain((before) => pruneOutboundHistory(db, before, batch), new Date(at.getTime() - options.deliveryLogDays * DAY_MS))
        : 0;
    const tokens = await drain((before) => pruneDeadTokens(db, before, batch), at);
    const pruned = [...(outbound > 0 ? OUTBOUND_TABLES : []), ...(tokens > 0 ? ['auth_tokens'] : [])];
    // What was deleted stays deleted: a VACUUM failing is reported, not the pass.
    if (!stopped) await vacuumOnPglite(db, pruned).catch((error: unknown) => onError(new Error('VACUUM after deleting old history failed', { cause: error })));
    return { outbound, tokens };
  };
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    // One pass at a time: a slow one skips ticks instead of piling them up.
    running ??= pass()
      .catch(onError)
      .finally(() => (running = undefined));
  }, options.intervalMs);
  timer.unref();
  return {
    pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
