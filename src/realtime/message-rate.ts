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

/** messages a session's bucket regains per second */
export const MESSAGES_PER_SECOND = 5;
/** messages a full bucket holds: what may arrive at once */
export const MESSAGE_BURST = 50;

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
  ) {}

  /**
   * Takes one message from `key`'s budget, or throws 429 SB_RATE_LIMITED
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
      throw new RateLimited('SB_RATE_LIMITED', `too many messages from this chat: at most ${perSecond} a second after a burst of ${burst}; try again in ${seconds} s`, seconds);
    }
    bucket.tokens -= 1;
  }
}
