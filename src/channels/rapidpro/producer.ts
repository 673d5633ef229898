import type { Ctx } from '../../context.js';
import type { Files } from '../../files/files.js';
import { MAX_ATTEMPTS, retryDelay } from '../../events/outbound/retry.js';
import { send, type SendOutcome } from '../../events/outbound/send.js';
import type { Feed, Producer } from '../../events/outbound/worker.js';
import { PRODUCER, rapidproFeed, ticketerOfKey, ticketOfKey, withFreshLinks } from './feed.js';

// What RapidPro callbacks add to the generic outbox: the ticketer's secret
// as `Authorization: Token <secret>` and its callback URL, read at each
// attempt, so a secret or URL changed meanwhile is the one used (the row's
// URL is the feed's copy, which a feed racing RapidPro's PUT settings may
// have taken before the change: kept as a record); file links signed at each attempt too
// (withFreshLinks), so a callback retried for days never carries a dead
// one; a retry for every answer but a 2xx; and an end to a callback
// mailroom refuses, which would otherwise hold every later callback of its
// ticket (they go one at a time) behind it for good.

export const USER_AGENT = 'Switchboard-RapidPro/0.1';

/** An attempt of a ticketer RapidPro has not connected yet: it fails and waits, and PUT settings sends it (setCallbackUrl). */
const NOT_CONNECTED: SendOutcome = {
  status: null,
  excerpt: null,
  error: 'no callback URL yet: RapidPro has not connected this ticketer (PUT settings)',
  retryAfterMs: null,
  durationMs: 0,
};

/**
 * Mailroom refusing this callback itself: a 4xx it answers for a body it
 * cannot act on (400 when it cannot fetch an attachment, or its reply or
 * close failed). Not 401 (the secrets differ: mended by an admin), 404 (a
 * ticket mailroom does not know yet, or a proxy while RapidPro moves), 408,
 * 429, nor 410 (a proxy in front may answer it while RapidPro moves): those
 * are retried as long as it takes.
 */
const RETRIED_4XX = [401, 404, 408, 410, 429];
export const refused = (status: number | null) => status !== null && status >= 400 && status < 500 && !RETRIED_4XX.includes(status);

/** What the attempt log says of a refusal that sends the message again without its attachments. */
export const WITHOUT_ATTACHMENTS = 'mailroom refused the message with its attachments (it fetches each and answers 400 when one cannot be fetched; refused twice, or a file named): the next attempts send it without them, their links at the end of the text';

/**
 * An agent-message's body with its attachments taken out and their links
 * (signed afresh: a contact may open them days later) added to the text, one
 * a line; undefined for any other body.
 */
export function withoutAttachments(body: Buffer, files: Files | undefined, now: Date): Buffer | undefined {
  let payload: { type?: unknown; data?: { text?: unknown; attachments?: unknown } };
  try {
    payload = JSON.parse(withFreshLinks(body, files, now).toString('utf8')) as typeof payload;
  } catch {
    return undefined;
  }
  const attachments = payload?.type === 'agent-message' ? payload.data?.attachments : undefined;
  if (!Array.isArray(attachments) || attachments.length === 0) return undefined;
  const links = attachments.map((a: { url?: unknown }) => (typeof a?.url === 'string' ? a.url : '')).filter((url) => url !== '');
  const text = typeof payload.data?.text === 'string' ? payload.data.text : '';
  const { attachments: _dropped, ...data } = payload.data!;
  return Buffer.from(JSON.stringify({ ...payload, data: { ...data, text: [text, ...links].filter((line) => line !== '').join('\n') } }));
}

/**
 * Mailroom's words when it could not fetch an attachment (its handlers
 * answer `error fetching ticket file '<url>'`). A refusal without them may be
 * a passing failure of its own (it answers 400 to a reply it could not send,
 * its database down too): the attachments then go once more before they are
 * taken out, at the second refusal.
 */
const FILE_NOT_FETCHED = /fetching ticket file/i;

/** Refusals each row had before the attempt about to go, from its attempt log. */
const REFUSALS = /* sql */ `
  select request_id, count(*)::int as n from outbound_attempts
   where request_id = any ($1::bigint[]) and status between 400 and 499 and status <> all ($2::int[])
   group by request_id`;

/**
 * A refused row's body is swapped for the one without attachments only if
 * it is still the body that was refused (an erasure may have redacted it
 * since), and the attempt that was refused says so in the log.
 */
const STRIP = /* sql */ `
  with stripped as (
    update outbound_requests set body = $3
     where id = $1 and body = $2::bytea and state = 'pending' and not erased
    returning id
  )
  update outbound_attempts a set error = coalesce(a.error || ': ', '') || $5
    from stripped where a.request_id = stripped.id and a.attempt = $4`;

export interface RapidproOutboundOptions {
  random?: () => number;
  /** a callback mailroom kept refusing was given up, so its ticket's later callbacks may go */
  onGivenUp?: (ticketId: string, type: string, reason: string) => void;
}

export function rapidproProducer(options: RapidproOutboundOptions = {}): Producer {
  /**
   * The files and clock of the worker sending: the transport is given the
   * request alone, and every attempt is prepared (signed) before it goes.
   */
  let signing: Pick<Ctx, 'files' | 'now'> | undefined;
  /** refusals of each row claimed, read as it was prepared, for decide */
  const refusalsOf = new Map<number, number>();
  /** rows decide found refused for their attachments (or refused twice): settle sends them on without */
  const toStrip = new Set<number>();
  /**
   * Each attempt's callback URL as its signer read it, by the very body the
   * signer handed the worker: the transport is given the request alone.
   */
  const targets = new WeakMap<Buffer, string | null>();
  return {
    // an HTTP attempt like any other, to the ticketer's URL now, its body's file links signed as it goes
    transport: (request) => {
      const url = targets.has(request.body) ? targets.get(request.body) : request.url;
      if (!url) return Promise.resolve(NOT_CONNECTED);
      return send({ ...request, url, body: signing ? withFreshLinks(request.body, signing.files, signing.now()) : request.body });
    },
    // A webhook receiver's 410 means "stop sending"; mailroom has no such meaning for it (a proxy
    // in front may answer it while RapidPro moves), and a dropped callback is an agent's reply lost.
    decide(row, outcome, answeredAt) {
      const before = refusalsOf.get(Number(row.id)) ?? 0;
      refusalsOf.delete(Number(row.id));
      toStrip.delete(Number(row.id));
      if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) return { outcome: 'delivered', nextAttemptAt: null };
      if (refused(outcome.status)) {
        // Mailroom answers 400 to any reply it could not send, a passing database error too: a refusal is
        // retried on the webhook schedule, counted in refusals (an outage's 500s before do not shorten it),
        // then given up as a webhook is, so that the ticket's later callbacks go. A message with attachments
        // goes again without them (settle), after the schedule's first step when mailroom said it could not
        // fetch one, else after its second (FILE_NOT_FETCHED).
        if (before >= 1 || FILE_NOT_FETCHED.test(outcome.excerpt ?? '')) toStrip.add(Number(row.id));
        const delay = retryDelay(before + 1, outcome.retryAfterMs, MAX_ATTEMPTS, options.random);
        return delay === null ? { outcome: 'failed', nextAttemptAt: null } : { outcome: 'retry', nextAttemptAt: new Date(answeredAt.getTime() + delay) };
      }
      // The webhook schedule, then its last step (a day) for as long as it takes: no attempt is ever the last.
      const delay = retryDelay(row.attempts + 1, outcome.retryAfterMs, Number.MAX_SAFE_INTEGER, options.random)!;
      return { outcome: 'retry', nextAttemptAt: new Date(answeredAt.getTime() + delay) };
    },
    async settle(ctx, results) {
      for (const { row, record } of results) {
        if (record.outcome === 'failed') {
          toStrip.delete(Number(row.id));
          options.onGivenUp?.(ticketOfKey(row.ordering_key) ?? '', row.name, record.error ?? `HTTP ${record.status}`);
          continue;
        }
        if (!toStrip.delete(Number(row.id)) || record.outcome !== 'retry' || !refused(record.status)) continue;
        const stripped = withoutAttachments(row.body, ctx.files, ctx.now());
        if (stripped) await ctx.db.query(STRIP, [row.id, row.body, stripped, record.attemptsBefore + 1, WITHOUT_ATTACHMENTS]);
      }
    },
    async prepare(ctx, rows = []) {
      signing = ctx;
      const ticketers = await ctx.db.query<{ uuid: string; secret: string; callback_url: string | null }>('select uuid, secret, callback_url from rapidpro_ticketers');
      const byUuid = new Map(ticketers.map((t) => [t.uuid, t]));
      const tried = rows.filter((row) => row.attempts > 0).map((row) => Number(row.id));
      if (tried.length > 0) {
        const counted = await ctx.db.query<{ request_id: number | string; n: number }>(REFUSALS, [tried, RETRIED_4XX]);
        for (const { request_id, n } of counted) refusalsOf.set(Number(request_id), n);
      }
      return (claimed) => {
        const headers = new Map<number, Record<string, string>>();
        const bodies = new Map<number, Buffer>();
        for (const row of claimed) {
          const ticketer = byUuid.get(ticketerOfKey(row.ordering_key) ?? '');
          if (ticketer) {
            headers.set(row.id, { authorization: `Token ${ticketer.secret}`, 'user-agent': USER_AGENT });
            bodies.set(row.id, row.body);
            targets.set(row.body, ticketer.callback_url);
          } else refusalsOf.delete(Number(row.id)); // cancelled: never decided
        }
        return { headers, bodies, cancelled: 'the ticketer was deleted' };
      };
    },
  };
}

/** RapidPro's share of the one outbound worker: pass to createWebhookWorker's `extra`. */
export function rapidproOutbound(options: RapidproOutboundOptions & { idleRecheckMs?: number } = {}): { producers: Record<string, Producer>; feeds: readonly Feed[] } {
  return { producers: { [PRODUCER]: rapidproProducer(options) }, feeds: [rapidproFeed(options)] };
}
