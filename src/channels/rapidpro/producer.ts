import type { Feed, Producer } from '../../events/outbound/worker.js';
import { PRODUCER, rapidproFeed, ticketerOfKey } from './feed.js';

// What RapidPro callbacks add to the generic outbox: the ticketer's secret
// as `Authorization: Token <secret>`, read at each attempt, so a secret
// changed meanwhile is the one sent.

export const USER_AGENT = 'Switchboard-RapidPro/0.1';

export function rapidproProducer(): Producer {
  return {
    async prepare(ctx) {
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
export function rapidproOutbound(options: { idleRecheckMs?: number } = {}): { producers: Record<string, Producer>; feeds: readonly Feed[] } {
  return { producers: { [PRODUCER]: rapidproProducer() }, feeds: [rapidproFeed(options)] };
}
