import { Type } from '@sinclair/typebox';
import { setTimeout as delay } from 'node:timers/promises';
import { checkIdentity } from '../customers/identity.js';
import { unauthorized } from '../errors.js';
import { applyAnswers } from '../prechat/answers.js';
import { readForm } from '../prechat/form.js';
import type { App, AppDeps } from '../http/deps.js';
import { bearerToken } from '../http/auth.js';
import { addressKey } from '../http/client-address.js';
import { Department, ErrorBody, errorResponses, NoBody, ONE_LINE_OR_EMPTY_PATTERN, StringMap } from '../http/schemas.js';
import { customerState } from '../conversations/model.js';
import type { Realtime } from './index.js';
import { sessionGate } from './session-limits.js';
import { endSession, sessionForToken, startSession } from './sessions.js';

const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });

const SessionBody = Type.Object(
  {
    customer: Type.Object(
      {
        id: Str(200),
        // One line, as names are (ONE_LINE_OR_EMPTY_PATTERN): an email transcript writes
        // it at the head of each of the customer's lines, where a line break
        // began a forged line of its own. '' (a form's name left empty) or null: none.
        name: Type.Optional(Type.Union([Type.String({ maxLength: 200, pattern: ONE_LINE_OR_EMPTY_PATTERN }), Type.Null()])),
        email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 254 }), Type.Null()])),
        hash: Type.Optional(
          Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()], {
            description: 'lowercase hex HMAC-SHA256(WIDGET_IDENTITY_SECRET, customer.id), computed by the host site\'s server: the chat is then verified; without it, unverified; a wrong one is 401 SB_IDENTITY_INVALID',
          }),
        ),
      },
      { additionalProperties: false },
    ),
    department: Type.Optional(Type.Union([Department, Type.Null()])),
    prechat: Type.Optional(
      StringMap(Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]), {
        key: Type.String({ maxLength: 40 }),
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
      schema: { tags, summary: 'Start a customer chat session (a widget conversation, routed at once); limited per client address (429 with retry-after)', security: [], body: SessionBody, response: { 201: SessionAnswer, 429: ErrorBody, ...errorResponses } },
    },
    async (request, reply) => {
      const { customer, department, prechat } = request.body;
      // Checked before anything is written: a wrong hash or answer creates nothing.
      const identity = checkIdentity(config.customers.identity, customer.id, customer.hash, ctx.now());
      const { fields } = await readForm(ctx.db);
      const opening = applyAnswers(fields, prechat ?? {}, { customer: { id: customer.id, name: customer.name, email: customer.email }, department: department ?? null });
      if (identity === 'not_configured') request.log.warn('POST /session sent customer.hash but WIDGET_IDENTITY_SECRET is not set: the chat is unverified');
      const gate = sessionGate(config.sessionLimits, realtime.config.sessionKeepAliveMs, addressKey(request));
      await gate.precheck(ctx.db, ctx.now());
      const { conversation, token } = await startSession(ctx, { ...opening, customer_verified: identity === 'verified' }, realtime.sessionTtlSeconds, gate);
      return reply.status(201).send({
        sessionId: conversation.id,
        keepAliveTTL: realtime.config.sessionKeepAliveMs,
        token,
        sessionTopic: t.session(conversation.id),
        state: customerState(conversation.state),
      });
    },
  );

  app.delete(
    '/session',
    { schema: { tags, summary: 'End the chat and its session token (customer session token as Bearer)', body: NoBody, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const token = bearerToken(request);
      const session = token ? await sessionForToken(ctx.db, token, ctx.now()) : undefined;
      if (!session || session.ended_at) throw unauthorized('a live session token is required: send Authorization: Bearer <token from POST /session>');
      await endSession(ctx, session.conversation_id);
      // The goodbye on the control topic goes out before the connections made
      // with the token close (the customer's other tabs hear it): what the end
      // handed the publisher, not its idleness (under steady load it is never
      // idle, and each ended chat left a loop waiting for it), and at most a second.
      await Promise.race([realtime.publisher.flushed(), delay(1_000, undefined, { ref: false })]);
      realtime.broker.endToken?.(token!);
      return reply.status(204).send(null);
    },
  );
}
