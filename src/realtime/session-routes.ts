import { Type } from '@sinclair/typebox';
import { SYSTEM } from '../agents/model.js';
import { closeConversation } from '../conversations/lifecycle.js';
import { checkIdentity } from '../customers/identity.js';
import type { ConversationRow } from '../conversations/model.js';
import { unauthorized } from '../errors.js';
import { applyAnswers } from '../prechat/answers.js';
import { readForm } from '../prechat/form.js';
import type { App, AppDeps } from '../http/deps.js';
import { bearerToken } from '../http/auth.js';
import { errorResponses, NoBody } from '../http/schemas.js';
import type { Realtime } from './index.js';
import { sessionForToken, startSession } from './sessions.js';

const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });

const SessionBody = Type.Object(
  {
    customer: Type.Object(
      {
        id: Str(200),
        name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
        email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 254 }), Type.Null()])),
        hash: Type.Optional(
          Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()], {
            description: 'lowercase hex HMAC-SHA256(WIDGET_IDENTITY_SECRET, customer.id), computed by the host site\'s server: the chat is then verified; without it, unverified; a wrong one is 401 SB_IDENTITY_INVALID',
          }),
        ),
      },
      { additionalProperties: false },
    ),
    department: Type.Optional(Type.Union([Str(100), Type.Null()])),
    prechat: Type.Optional(
      Type.Record(Type.String({ maxLength: 40 }), Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]), {
        maxProperties: 30,
        description: 'answers to the pre-chat form (GET /api/v1/prechat-form) by field key, checked by its rules: 400 naming prechat.<key>, nothing created',
      }),
    ),
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
      schema: { tags, summary: 'Start a customer chat session (a widget conversation, routed at once)', security: [], body: SessionBody, response: { 201: SessionAnswer, ...errorResponses } },
    },
    async (request, reply) => {
      const { customer, department, prechat } = request.body;
      // Checked before anything is written: a wrong hash or answer creates nothing.
      const identity = checkIdentity(config.customers.identity, customer.id, customer.hash, ctx.now());
      const { fields } = await readForm(ctx.db);
      const opening = applyAnswers(fields, prechat ?? {}, { customer: { id: customer.id, name: customer.name, email: customer.email }, department: department ?? null });
      if (identity === 'not_configured') request.log.warn('POST /session sent customer.hash but WIDGET_IDENTITY_SECRET is not set: the chat is unverified');
      const { conversation, token } = await startSession(ctx, { ...opening, customer_verified: identity === 'verified' }, realtime.sessionTtlSeconds);
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
