// Counting attempts per key in fixed windows, in this process' memory, where
// an attempt is counted *before* the work it guards and can be handed back
// when it turned out fine. That order is the point: a limiter that counts
// only after the outcome lets N parallel attempts all pass the check before
// the first of them is counted (25 parallel password guesses against a limit
// of 10 would all be tried).

export interface Attempts {
  /**
   * Counts one attempt for `key`; when the key already has `max` in its
   * window, counts nothing and answers how long until the window ends.
   */
  take(key: string): { ok: true; /** hands the attempt back (it succeeded and should not count) */ giveBack(): void } | { ok: false; retryAfterSeconds: number };
}

interface Window {
  count: number;
  endsAt: number;
}

/**
 * `maxKeys` bounds the memory an attacker spraying keys can make us hold:
 * past it, the windows that end soonest are dropped first (which can only
 * forget attempts, never invent them).
 */
export function attempts(options: { max: number; windowMs: number; now?: () => number; maxKeys?: number }): Attempts {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  // Insertion order is window order: every window lasts windowMs from its start.
  const windows = new Map<string, Window>();

  const prune = (at: number) => {
    for (const [key, window] of windows) {
      if (window.endsAt > at && windows.size <= maxKeys) break;
      windows.delete(key);
    }
  };

  return {
    take(key) {
      const at = now();
      prune(at);
      let window = windows.get(key);
      if (window === undefined || window.endsAt <= at) {
        windows.delete(key);
        window = { count: 0, endsAt: at + options.windowMs };
        windows.set(key, window);
      }
      if (window.count >= options.max) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((window.endsAt - at) / 1000)) };
      window.count += 1;
      const taken = window;
      let given = false;
      return {
        ok: true,
        giveBack() {
          // Only into the window it was taken from: a later window owes it nothing.
          if (given || windows.get(key) !== taken) return;
          given = true;
          taken.count -= 1;
          // Nothing left counted: the next window starts with the next attempt, not this one.
          if (taken.count <= 0) windows.delete(key);
        },
      };
    },
  };
}
