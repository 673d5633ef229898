import type { Db } from '../store/db.js';
import { pruneDeadTokens, pruneOutboundHistory } from './prune.js';

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
/** A pass gives way after this many full batches; the next pass goes on (a first pass over years of history must not hold a connection for minutes). */
const MAX_BATCHES_PER_PASS = 20;

/**
 * Deletes, every `intervalMs`, what is kept only as history and would
 * otherwise grow for ever: finished outbound requests older than
 * `deliveryLogDays` and dead login tokens. Every process runs one; they
 * share the rows (skip locked).
 */
export function startRetentionSweeper(db: Db, options: RetentionOptions, onError: (error: unknown) => void): RetentionSweeper {
  const now = options.now ?? (() => new Date());
  const batch = options.batch ?? 1_000;
  const drain = async (prune: (before: Date) => Promise<number>, before: Date) => {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_PASS; i++) {
      const n = await prune(before);
      total += n;
      if (n < batch) break;
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
      clearInterval(timer);
      await running;
    },
  };
}
