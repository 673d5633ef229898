import { Type } from '@sinclair/typebox';
import { unauthorized } from '../../errors.js';
import { bearerToken } from '../auth.js';
import { sameSecret } from '../secrets.js';
import type { App, AppDeps } from '../deps.js';
import { ErrorBody } from '../schemas.js';

export function healthRoutes(app: App, { ctx, metrics, config }: AppDeps): void {
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
      if (config.metricsToken !== undefined) {
        const presented = bearerToken(request);
        if (presented === undefined || !sameSecret(presented, config.metricsToken)) {
          reply.header('www-authenticate', 'Bearer realm="metrics"');
          throw unauthorized('the metrics need the token this server was given in METRICS_TOKEN: send Authorization: Bearer <token>');
        }
      }
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
