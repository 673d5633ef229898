import { Type } from '@sinclair/typebox';
import { toConversation } from '../conversations/model.js';
import { AppError, RateLimited } from '../errors.js';
import type { App, AppDeps } from '../http/deps.js';
import { sharedAttempts } from '../http/login-attempts.js';
import { requireAgent, requireAgentOrCustomer } from '../http/auth.js';
import { addressKey } from '../http/client-address.js';
import { Conversation, errorResponses, IdParams } from '../http/schemas.js';
import { queueInfoOf } from '../routing/queue.js';
import { readSettings } from '../settings/settings.js';
import { describeRelay } from './config.js';
import { listEmailDeliveries } from './deliveries.js';
import { leaveOfflineMessage } from './offline.js';
import { emailEnabled } from './outbox.js';
import { EmailDelivery, EmailDeliveryQuery, EmailStatus, OfflineMessageBody, TranscriptAccepted, TranscriptBody } from './schemas.js';
import { sendTranscript, type Admit, type Requester } from './send-transcript.js';

/**
 * Offline messages are anonymous, and each one makes a conversation and an
 * email: limited per client address and per customer email, counted in the
 * database (src/http/login-attempts.ts), so the limits hold across every
 * process and a restart, not N times over with N processes.
 */
export const OFFLINE_LIMITS = { perAddress: 10, perEmail: 5, windowMs: 60 * 60_000 } as const;

/**
 * Transcripts customers ask for, limited the same way (per client address
 * and per recipient, across conversations): a chat's own cap of
 * CUSTOMER_MAX_TRANSCRIPTS alone let one address be mailed again and again
 * from new chats. Agents' transcripts are not limited.
 */
export const CUSTOMER_TRANSCRIPT_LIMITS = { perAddress: 10, perEmail: 5, windowMs: 60 * 60_000 } as const;

type Limits = { perAddress: number; perEmail: number; windowMs: number };

export async function emailRoutes(
  app: App,
  { ctx, config }: AppDeps,
  limits: Limits = OFFLINE_LIMITS,
  transcriptLimits: Limits = CUSTOMER_TRANSCRIPT_LIMITS,
): Promise<void> {
  const tags = ['email'];
  const admin = requireAgent(ctx, ['admin']);
  // A warning, not a refusal: a transcript without files reads well as it is, and processes that
  // send email without PUBLIC_URL ran before; one with files links them to where the reader cannot go.
  if (emailEnabled(config.email) && config.rapidpro.publicUrl === undefined) {
    app.log.warn(
      'email is on (SMTP_URL) but PUBLIC_URL is not set: the file links in transcripts point at the address this server listens on, ' +
        'which the people who read them cannot reach; set PUBLIC_URL to the address Switchboard is reached at from outside',
    );
  }
  const byAddress = sharedAttempts(ctx.db, { scope: 'offline-address', max: limits.perAddress, windowMs: limits.windowMs, now: ctx.now });
  const byEmail = sharedAttempts(ctx.db, { scope: 'offline-email', max: limits.perEmail, windowMs: limits.windowMs, now: ctx.now });
  const transcriptsByAddress = sharedAttempts(ctx.db, { scope: 'transcript-address', max: transcriptLimits.perAddress, windowMs: transcriptLimits.windowMs, now: ctx.now });
  const transcriptsByEmail = sharedAttempts(ctx.db, { scope: 'transcript-email', max: transcriptLimits.perEmail, windowMs: transcriptLimits.windowMs, now: ctx.now });

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
      const keys = [
        ['address', byAddress, addressKey(request)],
        ['email', byEmail, request.body.email.trim().toLowerCase()],
      ] as const;
      // A message refused for what it says (a 4xx: a department that is a
      // channel's queue) left nothing and hands its attempts back: counted,
      // a customer's mistyped form used up their allowance (found by review).
      // A refusal by the email's limit still counts for the address.
      const taken: (() => Promise<void>)[] = [];
      for (const [what, limit, key] of keys) {
        const attempt = await limit.take(key);
        if (!attempt.ok) throw new RateLimited('SB_RATE_LIMITED', `too many offline messages from this ${what}; try again in ${attempt.retryAfterSeconds} s`, attempt.retryAfterSeconds);
        taken.push(attempt.giveBack);
      }
      let left;
      try {
        left = await leaveOfflineMessage(ctx, config.email, request.body);
      } catch (e) {
        if (e instanceof AppError && e.status < 500) await Promise.all(taken.map((giveBack) => giveBack()));
        throw e;
      }
      return reply.status(201).send(toConversation(left.conversation, await queueInfoOf(ctx, left.conversation)));
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
      // Counted once the conversation's own rules let the request through, with its recipient as decided under
      // the conversation's lock, in its transaction (found by review: counted before, refusals used a victim's
      // allowance up; and a recipient read before the lock missed one a racing request had just set).
      const admit: Admit = async (tx, to) => {
        const keys = [
          ['address', transcriptsByAddress, addressKey(request)],
          ['recipient', transcriptsByEmail, to.trim().toLowerCase()],
        ] as const;
        for (const [what, limit, key] of keys) {
          const taken = await limit.takeIn(tx, key);
          if (!taken.ok) throw new RateLimited('SB_RATE_LIMITED', `too many transcripts asked for from this ${what}; try again in ${taken.retryAfterSeconds} s`, taken.retryAfterSeconds);
        }
      };
      const by: Requester = session ? { kind: 'customer', conversationId: session.conversation_id, admit } : { kind: 'agent', actor: request.actor };
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
