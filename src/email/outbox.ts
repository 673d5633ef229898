import type { Ctx } from '../context.js';
import { enqueue } from '../events/outbound/outbox.js';
import { MAX_ATTEMPTS } from '../events/outbound/retry.js';
import type { Producer } from '../events/outbound/worker.js';
import type { Queryable } from '../store/db.js';
import { compose, type Mail } from './compose.js';
import { addressOf, type EmailConfig } from './config.js';
import { emailNotConfigured } from './errors.js';
import { ENVELOPE_FROM, mailtoUrl, smtpTransport } from './transport.js';

// Email's share of the one outbound outbox. An email is a row like a
// webhook delivery — producer 'email', url `mailto:<recipients>`, method
// SMTP, body the rendered message — written in the transaction that accepts
// the request, so it is sent at least once or shows as failed in the log.
// The worker claims, leases, retries and logs it; only the attempt itself
// (SMTP instead of HTTP) is the producer's.

export const PRODUCER = 'email';
/**
 * A conversation's emails are keyed by it: its transcripts go one at a time,
 * in order, and an erasure finds them all (src/erasure/erase.ts). The team's
 * copy of an offline message has a key of its own, so a transcript of the
 * conversation does not wait behind it while the team's relay refuses it.
 */
export const transcriptEmailKey = (conversationId: string) => `email:${conversationId}`;
export const offlineEmailKey = (conversationId: string) => `email-offline:${conversationId}`;

/** The row header naming who asked for an email when it was not staff: customers' transcripts are counted by it. */
export const REQUESTED_BY = 'requested-by';
export type EmailKind = 'transcript' | 'offline_message';

/** The relay is the operator's: the SSRF guard does not apply, and mail relays may answer slowly. */
const SMTP_TIMEOUT_MS = 30_000;

export interface EmailSettings {
  smtpUrl: string;
  from: string;
}

/** The settings when email is on; throws SB_EMAIL_NOT_CONFIGURED when it is off. */
export function requireEmail(config: EmailConfig): EmailSettings {
  if (config.smtpUrl === undefined || config.from === undefined) throw emailNotConfigured();
  return { smtpUrl: config.smtpUrl, from: config.from };
}

export const emailEnabled = (config: EmailConfig) => config.smtpUrl !== undefined && config.from !== undefined;

/**
 * Renders `mail` and appends it to the outbox in `tx`; returns the row id.
 * `orderingKey` sends a conversation's emails one at a time, in order.
 * `requestedBy` marks an email a customer asked for (its row's headers keep it).
 */
export async function enqueueEmail(
  tx: Queryable,
  settings: EmailSettings,
  kind: EmailKind,
  mail: Omit<Mail, 'from'>,
  orderingKey: string | null,
  requestedBy?: 'customer',
): Promise<number> {
  const { messageId, raw } = await compose({ ...mail, from: settings.from });
  const [id] = await enqueue(
    tx,
    [
      {
        producer: PRODUCER,
        messageId,
        name: kind,
        orderingKey,
        url: mailtoUrl(mail.to),
        method: 'SMTP',
        // what the delivery log shows besides the body; nothing here is secret
        headers: { [ENVELOPE_FROM]: addressOf(settings.from)!, subject: mail.subject, ...(requestedBy ? { [REQUESTED_BY]: requestedBy } : {}) },
        body: raw,
        maxAttempts: MAX_ATTEMPTS,
      },
    ],
    mail.date,
  );
  return id!;
}

/** Wakes the outbound worker now rather than at its next poll (it listens to onCommitted). */
export const nudge = (ctx: Ctx) => ctx.onCommitted?.([]);

/** The email producer for the outbound worker; register it only when email is on. */
export function emailProducer(settings: EmailSettings): Producer {
  return {
    trustedTargets: true,
    timeoutMs: SMTP_TIMEOUT_MS,
    transport: smtpTransport(settings.smtpUrl),
    // nothing to sign: every claimed row goes as it is
    async prepare() {
      return (rows) => ({ headers: new Map(rows.map((row) => [row.id, {}])) });
    },
  };
}
