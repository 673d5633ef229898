import type { Ctx } from '../context.js';
import { enqueue, type AttemptRecord } from '../events/outbound/outbox.js';
import { MAX_ATTEMPTS } from '../events/outbound/retry.js';
import { storableText, type SendOutcome } from '../events/outbound/send.js';
import type { Producer } from '../events/outbound/worker.js';
import type { Queryable } from '../store/db.js';
import { compose, type Mail } from './compose.js';
import { addressOf, type EmailConfig } from './config.js';
import { emailNotConfigured } from './errors.js';
import { ENVELOPE_FROM, mailtoUrl, REFUSED_MESSAGE, REFUSED_RECIPIENT, smtpTransport } from './transport.js';

// Email's share of the one outbound outbox. An email is a row like a
// webhook delivery — producer 'email', url `mailto:<recipients>`, method
// SMTP, body the rendered message — written in the transaction that accepts
// the request, so it is sent at least once or shows as failed in the log.
// The worker claims, leases, retries and logs it; only the attempt itself
// (SMTP instead of HTTP) is the producer's.

export const PRODUCER = 'email';

/**
 * The ordering keys of a conversation's emails. Rows sharing a key go one at
 * a time, in order, and a row waits while an earlier one of its key is
 * pending, retries included. So a conversation's transcripts are keyed by
 * the conversation AND their recipient: its transcripts to one address go
 * in order, and one to an address the relay keeps refusing (a customer's
 * typo) holds up no other. The key is `email:<conversation>:<n>`, n
 * numbering the conversation's recipients as they are first mailed
 * (transcriptRecipientKey): the address itself is never in it, as the key
 * outlives an erasure, which blanks recipients. `email:<conversation>`
 * (transcriptEmailKey) is the key every transcript of it had before: rows
 * written then still have it. The team's copy of an offline message has a
 * key of its own, `email-offline:<conversation>`, so a transcript of the
 * conversation does not wait behind it while the team's relay refuses it.
 * An erasure finds them all with conversationEmails (src/erasure/erase.ts).
 */
export const transcriptEmailKey = (conversationId: string) => `email:${conversationId}`;
export const offlineEmailKey = (conversationId: string) => `email-offline:${conversationId}`;
const recipientKey = (conversationId: string, n: number) => `${transcriptEmailKey(conversationId)}:${n}`;

/**
 * The first string past every key that begins `email:<conversationId>:`,
 * whatever the database's collation: the id with its last hex digit raised
 * by one (carried as in addition). A collation may weigh `:` and `-` less
 * than letters and digits, or not at all, but never the hex digits out of
 * their order (0–9 before a–f), so every key of the conversation sorts
 * between `email:<id>:` and this, and the range is read from the index
 * outbound_email_by_key (migration 0083) where a LIKE 'email:<id>:%'
 * would be read from it only under the C collation.
 */
function pastConversation(conversationId: string): string {
  const digits = conversationId.toLowerCase().split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = digits[i]!;
    if (!/[0-9a-f]/.test(d)) continue;
    if (d === 'f') {
      digits[i] = '0';
      continue;
    }
    digits[i] = d === '9' ? 'a' : String.fromCharCode(d.charCodeAt(0) + 1);
    return transcriptEmailKey(digits.join(''));
  }
  // all f: past every hex digit
  return transcriptEmailKey('g');
}

/**
 * Every email of a conversation, as a condition on outbound_requests'
 * ordering_key for a statement whose parameters `$first`… are `params`:
 * the offline copy's key and the transcripts' old one exactly, the
 * transcripts' keys per recipient as a range of the index with their
 * prefix checked (src/erasure/erase.ts; the customer's count here).
 */
export function conversationEmails(conversationId: string, first: number): { sql: string; params: [string[], string, string] } {
  const id = conversationId.toLowerCase();
  return {
    sql: `(ordering_key = any ($${first}::text[]) or (ordering_key >= $${first + 1} and ordering_key < $${first + 2} and starts_with(ordering_key, $${first + 1})))`,
    params: [[transcriptEmailKey(id), offlineEmailKey(id)], `${transcriptEmailKey(id)}:`, pastConversation(id)],
  };
}

/**
 * The key of a transcript of `conversationId` to `to`: the one its earlier
 * transcripts to that address (in any case) had, or the conversation's next.
 * The caller holds the conversation's row (FOR UPDATE): two requests cannot
 * both take the next number for different addresses, nor two for one.
 */
export async function transcriptRecipientKey(tx: Queryable, conversationId: string, to: string): Promise<string> {
  const id = conversationId.toLowerCase();
  const keys = conversationEmails(id, 1);
  const rows = await tx.query<{ ordering_key: string; url: string }>(
    `select distinct ordering_key, url from outbound_requests where producer = '${PRODUCER}' and ${keys.sql}`,
    keys.params,
  );
  const prefix = `${transcriptEmailKey(id)}:`;
  const numbered = rows.filter((r) => r.ordering_key.startsWith(prefix) && /^\d+$/.test(r.ordering_key.slice(prefix.length)));
  const url = mailtoUrl([to.trim()]).toLowerCase();
  const same = numbered.find((r) => r.url.toLowerCase() === url);
  if (same) return same.ordering_key;
  const last = Math.max(0, ...numbered.map((r) => Number(r.ordering_key.slice(prefix.length))));
  return recipientKey(id, last + 1);
}

/** The row header naming who asked for an email when it was not staff: customers' transcripts are counted by it. */
export const REQUESTED_BY = 'requested-by';
export type EmailKind = 'transcript' | 'offline_message';

/**
 * The relay is the operator's: the SSRF guard does not apply, and mail relays
 * may answer slowly (a scan before the reply to DATA). The attempt's own
 * deadline, longer than the worker's (WEBHOOK_TIMEOUT, 15 s by default): an
 * attempt cut short is retried, and the relay that did take it sends it twice.
 */
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
 * The row's headers as jsonb can hold them (storableText: NUL and half an
 * emoji become U+FFFD), as the attempt log stores what relays answer. The
 * subject is people's text (a customer's name); one jsonb refuses fails the
 * transaction that accepts the request, and with it the offline message or
 * the transcript. The message itself is bytes (bytea), sent as composed.
 */
const storableHeaders = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [storableText(k), storableText(v)]));

/**
 * Renders `mail` and appends it to the outbox in `tx`; returns the row id.
 * `orderingKey`: emails sharing it go one at a time, in order (transcriptRecipientKey).
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
        headers: storableHeaders({ [ENVELOPE_FROM]: addressOf(settings.from)!, subject: mail.subject, ...(requestedBy ? { [REQUESTED_BY]: requestedBy } : {}) }),
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

/**
 * A 5xx refusing this email itself (its recipient, its content:
 * aboutThisEmail) is final: the relay will say the same each time, and a
 * transcript to a mistyped address went on being refused for three days
 * (ten attempts). Everything
 * else keeps the default: a 2xx is delivered; a 4xx, no answer, or a 5xx
 * refusing the session (the login, the greeting, the sender all emails
 * share: the operator's to fix, and the emails should go then) is retried
 * on the schedule. SMTP has no 410, so the default's Gone never applies.
 */
export function emailDecision(outcome: SendOutcome): Pick<AttemptRecord, 'outcome' | 'nextAttemptAt'> | undefined {
  const permanent = outcome.status !== null && outcome.status >= 500 && outcome.status < 600;
  const own = outcome.error !== null && (outcome.error.startsWith(REFUSED_RECIPIENT) || outcome.error.startsWith(REFUSED_MESSAGE));
  return permanent && own && aboutThisEmail(outcome.status!, outcome.error!) ? { outcome: 'failed', nextAttemptAt: null } : undefined;
}

/**
 * Relays refuse at RCPT TO or DATA for reasons that are the operator's too,
 * and hit every email: relaying denied, a login required, SPF or DMARC,
 * a blocklist (5.7.x), or a full mailbox (5.2.2, "persistent transient"
 * in RFC 3463). Only what is about this email's address or content is
 * final: the enhanced status 5.1.x but the sender's (5.1.7, 5.1.8), 5.2.1
 * (mailbox disabled), 5.2.3 and 5.3.4 (too big), 5.6.x (content). Without
 * an enhanced status, a 550, 551 or 553 that speaks of no relay, login or
 * policy (an old relay's "550 No such user").
 */
function aboutThisEmail(status: number, error: string): boolean {
  const enhanced = /\b5\.(\d{1,3})\.(\d{1,3})\b/.exec(error);
  if (enhanced) {
    const [subject, detail] = [Number(enhanced[1]), Number(enhanced[2])];
    if (subject === 1) return detail !== 7 && detail !== 8;
    if (subject === 2) return detail === 1 || detail === 3;
    if (subject === 3) return detail === 4;
    return subject === 6;
  }
  const said = error.slice(error.indexOf(': ') + 2); // the relay's words, past our "the relay refused …: "
  return [550, 551, 553].includes(status) && !/relay|auth|login|denied|block|policy|spam|spf|dmarc|dkim/i.test(said);
}

/** The email producer for the outbound worker; register it only when email is on. */
export function emailProducer(settings: EmailSettings): Producer {
  return {
    trustedTargets: true,
    timeoutMs: SMTP_TIMEOUT_MS,
    transport: smtpTransport(settings.smtpUrl),
    decide: (_row, outcome) => emailDecision(outcome),
    // nothing to sign: every claimed row goes as it is
    async prepare() {
      return (rows) => ({ headers: new Map(rows.map((row) => [row.id, {}])) });
    },
  };
}
