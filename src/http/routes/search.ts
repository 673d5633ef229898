import { Type } from '@sinclair/typebox';
import { presentMessage, toMessage } from '../../conversations/messages.js';
import { toConversation } from '../../conversations/model.js';
import { listQueue } from '../../routing/queue.js';
import { parseDateTime } from '../../reports/period.js';
import { search, type SearchHit } from '../../search/search.js';
import type { App, AppDeps } from '../deps.js';
import { LABEL_NAME_AS_SENT } from '../../labels/limits.js';
import { STORED_CUSTOMER_ID_MAX } from '../../customers/limits.js';
import { requireAgent } from '../auth.js';
import { Conversation, ConversationState, errorResponses, Message } from '../schemas.js';

// GET /api/v1/search: the agent's desk search (src/search/).

const Timestamp = Type.String({ format: 'date-time' });

export const SearchQuery = Type.Object(
  {
    q: Type.String({
      minLength: 1,
      // a whole customer id is matched as typed, and one may be this long
      maxLength: STORED_CUSTOMER_ID_MAX,
      description:
        'words to find in messages and in the customer’s id, name or email; "a phrase", `or` and `-word` work as on web search engines. A whole customer id or email also matches as typed.',
    }),
    state: Type.Optional(ConversationState),
    agent: Type.Optional(Type.String({ format: 'uuid', description: 'the agent holding the conversation (or, closed, who last held it)' })),
    department: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: LABEL_NAME_AS_SENT, description: 'only conversations carrying this label (a name, whatever its case); an unknown label is 400 SB_UNKNOWN_LABEL' })),
    from: Type.Optional({ ...Timestamp, description: 'hits at or after this time: when the message was written, or when a matching customer’s conversation was opened' }),
    to: Type.Optional({ ...Timestamp, description: 'hits before this time' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 0, description: 'hits to skip: the next page is offset + limit' })),
  },
  { additionalProperties: false },
);

const SearchReply = Type.Object({
  results: Type.Array(
    Type.Object({
      conversation: Conversation,
      message: Type.Union([Message, Type.Null()], { description: 'the message that matched; null when the customer matched' }),
    }),
  ),
});

export function searchRoutes(app: App, { ctx }: AppDeps): void {
  app.get(
    '/api/v1/search',
    {
      schema: {
        tags: ['search'],
        summary: 'Full-text search over messages and customers, newest hit first',
        description:
          'Agents find only conversations they hold or held (assigned or transferred to them); supervisors and admins all. Each message that matches is a result with its conversation; a conversation whose customer matches is a result with message null.',
        querystring: SearchQuery,
        response: { 200: SearchReply, ...errorResponses },
      },
      onRequest: requireAgent(ctx),
    },
    async (request) => {
      const q = request.query;
      const hits = await search(ctx.db, request.actor, {
        q: q.q,
        ...(q.state === undefined ? {} : { state: q.state }),
        ...(q.agent === undefined ? {} : { agent: q.agent }),
        ...(q.department === undefined ? {} : { department: q.department }),
        ...(q.label === undefined ? {} : { label: q.label }),
        // a leap second or a year past 9999 in UTC passes the schema: a 400, not a failed read
        ...(q.from === undefined ? {} : { from: parseDateTime('from', q.from) }),
        ...(q.to === undefined ? {} : { to: parseDateTime('to', q.to) }),
        limit: q.limit ?? 20,
        offset: q.offset ?? 0,
      });
      return { results: await views(hits) };
    },
  );

  // A waiting conversation shows its place in the queue, as everywhere: one queue read for the page.
  async function views(hits: SearchHit[]) {
    const waiting = [...new Set(hits.filter((h) => h.conversation.state === 'queued').map((h) => h.conversation.id))];
    const queue = waiting.length === 0 ? [] : await listQueue(ctx, { conversationIds: waiting });
    const info = new Map(queue.map((entry) => [entry.row.id, entry.queue]));
    return hits.map((h) => ({ conversation: toConversation(h.conversation, info.get(h.conversation.id)), message: h.message && presentMessage(ctx, toMessage(h.message)) }));
  }
}
