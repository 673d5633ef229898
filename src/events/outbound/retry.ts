// When a failed request is tried again: the Standard Webhooks (Svix)
// schedule, each delay spread by ±10 % so a receiver that comes back is not
// hit by every queued retry in the same second.

const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;

/** Delay after the 1st, 2nd, … failed attempt. */
export const RETRY_SCHEDULE_MS: readonly number[] = [5 * S, 5 * MIN, 30 * MIN, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H];

/** The first attempt plus one per step of the schedule. */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;

export const JITTER = 0.1;

/** The longest Retry-After honoured; a receiver asking for more is retried after this. */
export const MAX_RETRY_AFTER_MS = 24 * H;

/**
 * How long to wait after `failedAttempts` failures, or null when none are
 * left. A Retry-After from the receiver is honoured: the retry is never
 * earlier than it asks (up to a day), nor earlier than the schedule.
 */
export function retryDelay(failedAttempts: number, retryAfterMs: number | null, maxAttempts = MAX_ATTEMPTS, random: () => number = Math.random): number | null {
  if (failedAttempts >= maxAttempts) return null;
  const base = RETRY_SCHEDULE_MS[Math.min(failedAttempts, RETRY_SCHEDULE_MS.length) - 1] ?? RETRY_SCHEDULE_MS[0]!;
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  return retryAfterMs === null ? jittered : Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3), in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
