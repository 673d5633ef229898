import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { toConversation } from '../conversations/model.js';
import { AppError } from '../errors.js';
import type { App, AppDeps } from '../http/deps.js';
import { requireAgent, requireAgentOrCustomer } from '../http/auth.js';
import { Conversation, errorResponses, IdParams } from '../http/schemas.js';
import { queueInfoOf } from '../routing/queue.js';
import { readSettings } from '../settings/settings.js';
import { describeRelay } from './config.js';
import { listEmailDeliveries } from './deliveries.js';
import { leaveOfflineMessage } from './offline.js';
import { emailEnabled } from './outbox.js';
import { EmailDelivery, EmailDeliveryQuery, EmailStatus, OfflineMessageBody, TranscriptAccepted, TranscriptBody } from './schemas.js';
import { sendTranscript } from './send-transcript.js';

/** Offline messages are anonymous: limited per client address and per customer email, in this process' memory. */
export const OFFLINE_LIMITS = { perAddress: 10, perEmail: 5, windowMs: 60 * 60_000 } as const;

export async function emailRoutes(app: App, { ctx, config }: AppDeps, limits: { perAddress: number; perEmail: number; windowMs: number } = OFFLINE_LIMITS): Promise<void> {
  const tags = ['email'];
  const admin = requireAgent(ctx, ['admin']);
  if (!app.hasDecorator('createRateLimit')) await app.register((await import('@fastify/rate-limit')).default, { global: false });
  const byAddress = app.createRateLimit({ max: limits.perAddress, timeWindow: limits.windowMs, keyGenerator: (request) => `offline-ip:${request.ip}` });
  const emails = new WeakMap<FastifyRequest, string>();
  const byEmail = app.createRateLimit({ max: limits.perEmail, timeWindow: limits.windowMs, keyGenerator: (request) => `offline-email:${emails.get(request) ?? ''}` });

  app.post(
    '/api/v1/offline-messages',
    {
      schema: {
        tags,
        summary: 'Leave a message when nobody is there to chat (anonymous, rate-limited): a queued conversation, emailed to offline_email_to',
        security: [],
        body: OfflineMessageBody,
        response: { 201: Conversation, 429: errorResponses[409], ...errorResponses },
      },
    },
    async (request, reply) => {
      emails.set(request, request.body.email.trim().toLowerCase());
      for (const limit of [byAddress, byEmail]) {
        const answer = await limit(request);
        if (!answer.isAllowed && answer.isExceeded) {
          void reply.header('retry-after', String(Math.max(1, answer.ttlInSeconds)));
          throw new AppError('SB_RATE_LIMITED', `too many offline messages from this ${limit === byAddress ? 'address' : 'email'}; try again in ${Math.max(1, answer.ttlInSeconds)} s`, 429);
        }
      }
      const { conversation } = await leaveOfflineMessage(ctx, config.email, request.body);
      return reply.status(201).send(toConversation(conversation, await queueInfoOf(ctx, conversation)));
    },
  );

  app.post(
    '/api/v1/conversations/:id/transcript',
    {
      schema: {
        tags,
        summary: "Email the conversation's transcript (the customer's session token, or an agent who holds or held it); 202, sent through the outbox",
        params: IdParams,
        body: TranscriptBody,
        response: { 202: TranscriptAccepted, 429: errorResponses[409], ...errorResponses },
      },
      onRequest: requireAgentOrCustomer(ctx),
    },
    async (request, reply) => {
      const session = request.customerSession;
      const by = session ? ({ kind: 'customer', conversationId: session.conversation_id } as const) : ({ kind: 'agent', actor: request.actor } as const);
      return reply.status(202).send(await sendTranscript(ctx, config.email, request.params.id.toLowerCase(), request.body, by));
    },
  );

  app.get(
    '/api/v1/email',
    { schema: { tags, summary: 'Whether email is on, and where it goes (admin)', response: { 200: EmailStatus, ...errorResponses } }, onRequest: admin },
    async () => {
      const on = emailEnabled(config.email);
      return {
        enabled: on,
        relay: on ? describeRelay(config.email.smtpUrl!) : null,
        from: config.email.from ?? null,
        offline_email_to: (await readSettings(ctx.db)).offline_email_to,
      };
    },
  );

  app.get(
    '/api/v1/email/deliveries',
    {
      schema: { tags, summary: 'Emails, newest first, each with its SMTP attempts (admin)', querystring: EmailDeliveryQuery, response: { 200: Type.Array(EmailDelivery), ...errorResponses } },
      onRequest: admin,
    },
    async (request) => listEmailDeliveries(ctx.db, { before: request.query.before, limit: request.query.limit ?? 50, state: request.query.state }),
  );
}
