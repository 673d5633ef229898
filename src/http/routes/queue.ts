import { Type } from '@sinclair/typebox';
import { toConversation } from '../../conversations/model.js';
import { listQueue } from '../../routing/queue.js';
import type { App, AppDeps } from '../deps.js';
import { requireAgent } from '../auth.js';
import { errorResponses, QueueEntry, QueueQuery } from '../schemas.js';

export function queueRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/queue',
    {
      schema: {
        tags: ['queue'],
        summary: 'Waiting conversations in the order they will be served, with position, wait so far and expected wait',
        querystring: QueueQuery,
        response: { 200: Type.Array(QueueEntry), ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) => {
      const now = ctx.now().getTime();
      const entries = await listQueue(ctx, request.query.department === undefined ? {} : { department: request.query.department });
      return entries.map(({ row, queue }) => ({
        conversation: toConversation(row, queue),
        position: queue.position,
        waiting_seconds: Math.max(0, Math.floor((now - new Date(row.queued_at ?? row.created_at).getTime()) / 1000)),
        expected_wait_seconds: queue.expected_wait_seconds,
      }));
    },
  );
}
