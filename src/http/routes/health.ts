import { Type } from '@sinclair/typebox';
import type { App, AppDeps } from '../deps.js';
import { ErrorBody } from '../schemas.js';

export function healthRoutes(app: App, { ctx, metrics }: AppDeps): void {
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

  app.get('/metrics', { schema: { tags: ['health'], security: [], summary: 'Prometheus text format' } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
