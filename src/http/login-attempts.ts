import { createHash } from 'node:crypto';
import type { Db, Queryable } from '../store/db.js';

// Attempts counted per key in fixed windows, in the database, so the limit
// holds across every process sharing it (and a restart): logins, offline
// messages and greeting reports, each limit a scope of its own. An attempt
// is counted *before* the work it guards and can be handed back when it
// turned out fine. That order is the point: a limiter that counts only after
// the outcome lets N parallel attempts all pass the check before the first
// of them is counted (25 parallel password guesses against a limit of 10
// would all be tried). Counting is one atomic upsert, so N parallel attempts
// against a limit of 10 let exactly 10 through, whichever processes they
// arrive at.

export interface SharedAttempts {
  /** Counts one attempt for `key`; when the key already has `max` in its window, counts nothing and answers how long until the window ends. */
  take(key: string): Promise<{ ok: true; /** hands the attempt back (it succeeded and should not count) */ giveBack(): Promise<void> } | { ok: false; retryAfterSeconds: number }>;
  /**
   * The same, in the transaction `tx` of the work it guards: the attempt
   * commits with the work and rolls back with it (a refused request counts
   * nothing), and the key's row stays locked until then, so parallel
   * attempts still count one after another.
   */
  takeIn(tx: Queryable, key: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
}

// A new window when the old one ended, one more attempt when there is room;
// no row back when the window is full (the row is left as it was).
const TAKE = /* sql */ `
  insert into login_attempts as a (key_digest, window_ends_at, attempts)
  values ($1, $2::timestamptz + $3 * interval '1 millisecond', 1)
  on conflict (key_digest) do update
     set attempts = case when a.window_ends_at <= $2 then 1 else a.attempts + 1 end,
         window_ends_at = case when a.window_ends_at <= $2 then excluded.window_ends_at else a.window_ends_at end
   where a.window_ends_at <= $2 or a.attempts < $4
  returning window_ends_at`;

// Only into the window it was taken from: a later window owes it nothing. One
// less, whatever the count is by then: a give-back that waited for another's
// row lock re-reads the count and still takes one off (a choice between
// deleting the last attempt and decrementing, made on what both read before
// either wrote, let the one that waited do neither: migration 0072).
const GIVE_BACK = /* sql */ `
  update login_attempts set attempts = attempts - 1
   where key_digest = $1 and window_ends_at = $2 and attempts > 0
  returning attempts`;

// The last attempt handed back removes the row, so the next window starts
// with the next attempt, not this one. An attempt taken meanwhile keeps it.
const REMOVE_EMPTY = /* sql */ `delete from login_attempts where key_digest = $1 and window_ends_at = $2 and attempts = 0`;

const PRUNE_EVERY_MS = 60_000;

/**
 * When ended windows were last deleted, per store: the table is shared by
 * every scope (logins, offline messages, greeting reports), so one delete a
 * minute a process serves all of its counters, not one each.
 */
const prunedAt = new WeakMap<Db, number>();

export function sharedAttempts(db: Db, options: { scope: string; max: number; windowMs: number; now: () => Date }): SharedAttempts {
  const digest = (key: string) => createHash('sha256').update(`${options.scope}\u0000${key}`).digest('base64url');

  /** One attempt counted for the key in `q`, or the seconds until its full window ends. */
  async function count(q: Queryable, keyDigest: string, at: Date): Promise<{ windowEndsAt: Date } | { retryAfterSeconds: number }> {
    const [taken] = await q.query<{ window_ends_at: Date }>(TAKE, [keyDigest, at, options.windowMs, options.max]);
    if (taken !== undefined) return { windowEndsAt: taken.window_ends_at };
    const [full] = await q.query<{ window_ends_at: Date }>('select window_ends_at from login_attempts where key_digest = $1', [keyDigest]);
    const endsAt = full?.window_ends_at.getTime() ?? at.getTime();
    return { retryAfterSeconds: Math.max(1, Math.ceil((endsAt - at.getTime()) / 1000)) };
  }

  return {
    async take(key) {
      const at = options.now();
      // Either way: a clock set back (or another test's fake one) must not stop the pruning.
      if (Math.abs(at.getTime() - (prunedAt.get(db) ?? -Infinity)) >= PRUNE_EVERY_MS) {
        prunedAt.set(db, at.getTime());
        // Never waiting for a row: a transcript's attempts are counted in its transaction (takeIn) and
        // stay locked until it commits; waiting here for one while holding another it deleted was a
        // deadlock with it (found by review). A row skipped now goes at a later prune.
        await db.query(
          'delete from login_attempts where key_digest in (select key_digest from login_attempts where window_ends_at <= $1 for update skip locked)',
          [at],
        );
      }
      const keyDigest = digest(key);
      const counted = await count(db, keyDigest, at);
      if ('retryAfterSeconds' in counted) return { ok: false, retryAfterSeconds: counted.retryAfterSeconds };
      let given = false;
      return {
        ok: true,
        async giveBack() {
          if (given) return;
          given = true;
          const [left] = await db.query<{ attempts: number }>(GIVE_BACK, [keyDigest, counted.windowEndsAt]);
          if (left?.attempts === 0) await db.query(REMOVE_EMPTY, [keyDigest, counted.windowEndsAt]);
        },
      };
    },
    async takeIn(tx, key) {
      const counted = await count(tx, digest(key), options.now());
      return 'retryAfterSeconds' in counted ? { ok: false, retryAfterSeconds: counted.retryAfterSeconds } : { ok: true };
    },
  };
}
