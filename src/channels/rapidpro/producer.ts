import type { Ctx } from '../../context.js';
import { retryDelay } from '../../events/outbound/retry.js';
import { send } from '../../events/outbound/send.js';
import type { Feed, Producer } from '../../events/outbound/worker.js';
import { PRODUCER, rapidproFeed, ticketerOfKey, withFreshLinks } from './feed.js';

// What RapidPro callbacks add to the generic outbox: the ticketer's secret
// as `Authorization: Token <secret>`, read at each attempt, so a secret
// changed meanwhile is the one sent; file links signed at each attempt too
// (withFreshLinks), so a callback retried for days never carries a dead
// one; and a retry for every answer but a 2xx.

export const USER_AGENT = 'Switchboard-RapidPro/0.1';

export function rapidproProducer(options: { random?: () => number } = {}): Producer {
  /**
   * The files and clock of the worker sending: the transport is given the
   * request alone, and every attempt is prepared (signed) before it goes.
   */
  let signing: Pick<Ctx, 'files' | 'now'> | undefined;
  return {
    // an HTTP attempt like any other, its body's file links signed as it goes
    transport: (request) => send(signing ? { ...request, body: withFreshLinks(request.body, signing.files, signing.now()) } : request),
    // A webhook receiver's 410 means "stop sending"; mailroom has no such meaning for it (a proxy
    // in front may answer it while RapidPro moves), and a dropped callback is an agent's reply lost.
    decide(row, outcome, startedAt) {
      if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) return { outcome: 'delivered', nextAttemptAt: null };
      // The webhook schedule, then its last step (a day) for as long as it takes: no attempt is ever the last.
      const delay = retryDelay(row.attempts + 1, outcome.retryAfterMs, Number.MAX_SAFE_INTEGER, options.random)!;
      return { outcome: 'retry', nextAttemptAt: new Date(startedAt.getTime() + delay) };
    },
    async prepare(ctx) {
      signing = ctx;
      const ticketers = await ctx.db.query<{ uuid: string; secret: string }>('select uuid, secret from rapidpro_ticketers');
      const secrets = new Map(ticketers.map((t) => [t.uuid, t.secret]));
      return (rows) => {
        const headers = new Map<number, Record<string, string>>();
        for (const row of rows) {
          const secret = secrets.get(ticketerOfKey(row.ordering_key) ?? '');
          if (secret !== undefined) headers.set(row.id, { authorization: `Token ${secret}`, 'user-agent': USER_AGENT });
        }
        return { headers, cancelled: 'the ticketer was deleted' };
      };
    },
  };
}

/** RapidPro's share of the one outbound worker: pass to createWebhookWorker's `extra`. */
export function rapidproOutbound(options: { idleRecheckMs?: number; random?: () => number } = {}): { producers: Record<string, Producer>; feeds: readonly Feed[] } {
  return { producers: { [PRODUCER]: rapidproProducer({ random: options.random }) }, feeds: [rapidproFeed(options)] };
}
