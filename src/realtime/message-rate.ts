import { RateLimited } from '../errors.js';

// How many chat messages a customer's session may publish over MQTT. Every
// message is stored, turned into an event and relayed before the next is
// read, so a client looping on publish filled the conversation (and every
// agent's screen) as fast as the database took it. A token bucket per
// session: a person types about one message every few seconds, so the
// steady rate is far above any human's, and the burst holds a client
// flushing what it queued while offline (mqtt.js resends every unacknowledged
// QoS 1 publish at once on reconnect; test/integration/realtime-publish-order
// sends 40 in one go). Counted in each process: with an external broker a
// shared subscription spreads one session's messages over the processes, so
// the budget is per process, not a global one.
//
// The customer's other publishes that make Switchboard work have buckets of
// their own (coordinator.ts): read receipts (each locks the conversation's
// row and may write) the messages' limits, in a bucket apart so that reading
// never costs the customer a message; session and channel requests (each
// reads the conversation and its place in the queue, or publishes an answer)
// a small one, REQUEST_LIMITS. 1,000 session requests in a loop kept the
// server busy 22 s, none refused.

/** messages a session's bucket regains per second */
export const MESSAGES_PER_SECOND = 5;
/** messages a full bucket holds: what may arrive at once */
export const MESSAGE_BURST = 50;

/**
 * A session's session and channel requests: the widget sends one on each
 * (re)connect, and every page the shopper opens on the host site is a
 * connect: a burst of 30 (10 tabs, each reloaded twice) then one a second,
 * so a shopper clicking through pages is never refused (one every 10 s left
 * the widget stuck on "Connecting…" after ten page loads), while a loop
 * gets one answer a second, not a thousand.
 */
export const REQUEST_LIMITS: MessageRateLimits = { perSecond: 1, burst: 30 };

export interface MessageRateLimits {
  /** 0: no limit */
  perSecond: number;
  burst: number;
}

/** buckets kept before full ones (silent for burst / perSecond seconds) are forgotten */
const KEPT = 50_000;

export class MessageRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: MessageRateLimits = { perSecond: MESSAGES_PER_SECOND, burst: MESSAGE_BURST },
    private readonly now: () => number = Date.now,
    /** what is counted, plural, for the refusal's message */
    private readonly what = 'messages',
  ) {}

  /**
   * Takes one publish from `key`'s budget, or throws 429 SB_RATE_LIMITED
   * (answered to the sender as `message/rejected`) when it is spent; nothing
   * is taken then, so a client that keeps sending is let through again at
   * the steady rate.
   */
  take(key: string): void {
    const { perSecond, burst } = this.limits;
    if (perSecond === 0) return; // MQTT_MESSAGE_RATE=0: no limit (a benchmark's flat-out phase)
    const at = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      // A full bucket is the same as none: forgetting those keeps the map to the sessions sending now.
      if (this.buckets.size >= KEPT) for (const [k, b] of this.buckets) if (b.tokens + ((at - b.at) * perSecond) / 1000 >= burst) this.buckets.delete(k);
      bucket = { tokens: burst, at };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.at) * perSecond) / 1000);
    bucket.at = at;
    if (bucket.tokens < 1) {
      const seconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
      const steady = perSecond >= 1 ? `${perSecond} a second` : `one every ${Math.round(1 / perSecond)} s`;
      throw new RateLimited('SB_RATE_LIMITED', `too many ${this.what} from this chat: at most ${steady} after a burst of ${burst}; try again in ${seconds} s`, seconds);
    }
    bucket.tokens -= 1;
  }
}
