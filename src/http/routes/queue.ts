import { Type } from '@sinclair/typebox';
import { toConversation } from '../../conversations/model.js';
import { countQueued, listQueuePage } from '../../routing/queue.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses, QueueEntry, QueueQuery } from '../schemas.js';

export function queueRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/queue',
    {
      schema: {
        tags: ['queue'],
        summary: 'Waiting conversations in the order they will be served, with position, wait so far and expected wait; paged (limit, offset), the number waiting in X-Total-Count',
        querystring: QueueQuery,
        response: {
          200: { ...Type.Array(QueueEntry), headers: { 'x-total-count': Type.Integer({ description: 'conversations waiting (in the department asked for), on every page' }) } },
          ...errorResponses,
        },
      },
      onRequest: requireAgent(ctx),
    },
    async (request, reply) => {
      const q = request.query;
      const now = ctx.now().getTime();
      // Two statements, so two snapshots: a change committed between them can
      // make the total and the page disagree by it, as the next read would anyway.
      const [entries, total] = await Promise.all([
        listQueuePage(ctx, { ...(q.department === undefined ? {} : { department: q.department }), offset: q.offset ?? 0, limit: q.limit ?? 100 }),
        countQueued(ctx.db, q.department),
      ]);
      void reply.header('x-total-count', String(total));
      return entries.map(({ row, queue }) => ({
        conversation: toConversation(row, queue),
        position: queue.position,
        waiting_seconds: Math.max(0, Math.floor((now - new Date(row.queued_at ?? row.created_at).getTime()) / 1000)),
        expected_wait_seconds: queue.expected_wait_seconds,
      }));
    },
  );
}
