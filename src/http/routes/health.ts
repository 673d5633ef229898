import { createHash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { unauthorized } from '../../errors.js';
import type { App, AppDeps } from '../deps.js';
import { ErrorBody } from '../schemas.js';

/** Compared as digests, so the comparison takes the same time whatever the length or first wrong byte. */
const digest = (text: string) => createHash('sha256').update(text).digest();

export function healthRoutes(app: App, { ctx, metrics, config }: AppDeps): void {
  const metricsToken = config.metricsToken === undefined ? undefined : digest(config.metricsToken);
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        security: [],
        summary: '200 when the store answers, 503 when it does not',
        response: { 200: Type.Object({ status: Type.Literal('ok'), store: Type.String() }), 503: ErrorBody },
      },
    },
    async (_request, reply) => {
      try {
        await ctx.db.query('select 1');
        return { status: 'ok' as const, store: ctx.db.kind };
      } catch {
        return reply.status(503).send({ error: { code: 'SB_STORE_UNAVAILABLE', message: 'the database is not answering' } });
      }
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['health'], security: [], summary: 'Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`' } },
    async (request, reply) => {
      if (metricsToken !== undefined) {
        const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
        if (presented === undefined || !timingSafeEqual(digest(presented), metricsToken)) {
          reply.header('www-authenticate', 'Bearer realm="metrics"');
          throw unauthorized('the metrics need the token this server was given in METRICS_TOKEN: send Authorization: Bearer <token>');
        }
      }
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
