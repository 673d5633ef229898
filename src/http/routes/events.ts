import { Type } from '@sinclair/typebox';
import { listEvents } from '../../events/outbox.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses, Event, EventQuery } from '../schemas.js';

export function eventRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'The event stream in commit order (admin); page with after=<last id>',
        querystring: EventQuery,
        response: { 200: Type.Array(Event), ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) => {
      const rows = await listEvents(ctx.db, request.query.after ?? 0, request.query.limit ?? 100, request.query.type);
      return rows.map((e) => ({ ...e, created_at: new Date(e.created_at).toISOString() }));
    },
  );
}
