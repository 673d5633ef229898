import { Type } from '@sinclair/typebox';
import { requireAgent } from '../http/auth.js';
import type { App, AppDeps } from '../http/deps.js';
import { errorResponses, IdParams, NoBody } from '../http/schemas.js';
import { qiscusCallUrls } from '../channels/qiscus/removals.js';
import { eraseConversation } from './erase.js';

const Erasure = Type.Object(
  {
    conversation_id: Type.String({ format: 'uuid' }),
    messages: Type.Integer({ description: 'messages deleted (notes not counted)' }),
    notes: Type.Integer({ description: 'private notes deleted' }),
    attachments: Type.Integer({ description: 'uploaded files deleted (objects in a bucket are removed just after)' }),
    ratings: Type.Integer({ description: 'its rating (0 or 1), kept with its score and without its comment' }),
    events_redacted: Type.Integer({ description: "the conversation's events, kept with their personal fields replaced" }),
    deliveries_redacted: Type.Integer({ description: 'webhook deliveries of those events whose bodies were rebuilt redacted, and RapidPro callbacks and Qiscus calls made from them that were rewritten' }),
  },
  { additionalProperties: false },
);

export function erasureRoutes(app: App, { ctx, config }: AppDeps): void {
  const qiscus = qiscusCallUrls(config.qiscus);
  app.delete(
    '/api/v1/conversations/:id',
    {
      schema: {
        tags: ['conversations'],
        summary: "Erase a closed conversation's data (admins): messages, notes, files, the rating's comment, sessions; its events and the rating's score stay",
        description:
          'Only a resolved or abandoned conversation: an open one (queued, assigned) is refused with 409 SB_CONVERSATION_OPEN. One transaction; emits conversation.erased. See docs/api.md#erase-a-conversation for exactly what remains.',
        params: IdParams,
        body: NoBody,
        response: { 200: Erasure, ...errorResponses },
      },
      onRequest: requireAgent(ctx, ['admin']),
    },
    async (request) =>
      eraseConversation(ctx, request.params.id, request.actor, qiscus, (err) =>
        request.log.warn({ err }, 'the erasure is done; rewriting its tables (VACUUM FULL, so that nothing of it stays in the files of DATA_DIR) failed'),
      ),
  );
}
