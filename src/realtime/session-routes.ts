import { Type } from '@sinclair/typebox';
import { SYSTEM } from '../agents/model.js';
import { closeConversation } from '../conversations/lifecycle.js';
import type { ConversationRow } from '../conversations/model.js';
import { unauthorized } from '../errors.js';
import type { App, AppDeps } from '../http/deps.js';
import { bearerToken } from '../http/auth.js';
import { ErrorBody, errorResponses, NoBody } from '../http/schemas.js';
import type { Realtime } from './index.js';
import { sessionGate } from './session-limits.js';
import { sessionForToken, startSession } from './sessions.js';

const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });

const SessionBody = Type.Object(
  {
    customer: Type.Object(
      {
        id: Str(200),
        name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
        email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 254 }), Type.Null()])),
      },
      { additionalProperties: false },
    ),
    department: Type.Optional(Type.Union([Str(100), Type.Null()])),
  },
  { additionalProperties: false },
);

const SessionAnswer = Type.Object({
  sessionId: Type.String(),
  keepAliveTTL: Type.Integer({ description: 'ms; send server/sessions/online at least every keepAliveTTL/2' }),
  token: Type.String({ description: 'the MQTT password, and a Bearer token for this conversation\'s history' }),
  sessionTopic: Type.String(),
  state: Type.String(),
});

/** A customer's chat session: started anonymously, ended with its token. */
export function sessionRoutes(app: App, { ctx, config }: AppDeps, realtime: Realtime): void {
  const tags = ['realtime'];
  const t = realtime.topics;

  app.post(
    '/session',
    {
      schema: { tags, summary: 'Start a customer chat session (a widget conversation, routed at once); limited per client address (429 with retry-after)', security: [], body: SessionBody, response: { 201: SessionAnswer, 429: ErrorBody, ...errorResponses } },
    },
    async (request, reply) => {
      const gate = sessionGate(config.sessionLimits, realtime.config.sessionKeepAliveMs, request.ip);
      await gate.precheck(ctx.db, ctx.now());
      const { conversation, token } = await startSession(ctx, request.body, realtime.sessionTtlSeconds, gate);
      return reply.status(201).send({
        sessionId: conversation.id,
        keepAliveTTL: realtime.config.sessionKeepAliveMs,
        token,
        sessionTopic: t.session(conversation.id),
        state: conversation.state,
      });
    },
  );

  app.delete(
    '/session',
    { schema: { tags, summary: 'End the chat (customer session token as Bearer)', body: NoBody, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const token = bearerToken(request);
      const session = token ? await sessionForToken(ctx.db, token, ctx.now()) : undefined;
      if (!session) throw unauthorized('a live session token is required: send Authorization: Bearer <token from POST /session>');
      const [row] = await ctx.db.query<ConversationRow>('select * from conversations where id = $1', [session.conversation_id]);
      if (row && (row.state === 'queued' || row.state === 'assigned')) {
        // A customer who leaves before an agent answered abandoned the queue; after, the chat is done.
        await closeConversation(ctx, row.id, { state: row.state === 'queued' ? 'abandoned' : 'resolved', reason: 'customer' }, SYSTEM).catch((error: unknown) => {
          if ((error as { code?: string }).code !== 'SB_CONVERSATION_CLOSED') throw error;
        });
      }
      return reply.status(204).send(null);
    },
  );
}
