import type { Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { conversationEmails, PRODUCER as EMAIL_PRODUCER } from '../email/outbox.js';
import { ENVELOPE_FROM } from '../email/transport.js';
import { OPEN_STATES, type ConversationState } from '../conversations/model.js';
import { conflict, notFound } from '../errors.js';
import { withEvents, type StoredEvent } from '../events/outbox.js';
import { CURSOR as WEBHOOK_CURSOR, PRODUCER as WEBHOOK_PRODUCER } from '../events/webhooks/fanout.js';
import { CURSOR as QISCUS_CURSOR, MARK_AS_RESOLVED, PRODUCER as QISCUS_PRODUCER } from '../channels/qiscus/constants.js';
import { queueSyncBeforeErasure, type QiscusCallUrls } from '../channels/qiscus/removals.js';
import { CURSOR as RAPIDPRO_CURSOR, PRODUCER as RAPIDPRO_PRODUCER, queueCloseBeforeErasure } from '../channels/rapidpro/feed.js';
import { payloadFor } from '../events/webhooks/payloads.js';
import { SIGNATURE_HEADERS_SQL } from '../events/outbound/worker.js';
import type { SubscribableEvent } from '../events/webhooks/catalog.js';
import type { Queryable } from '../store/db.js';
import { noteUnreclaimed, unreclaimedTables, vacuumOnPglite } from '../store/vacuum.js';
import { redact } from './redact.js';

// Erasing a conversation (GDPR's right to erasure): every row that holds
// what the customer said or who they are goes, in one transaction, and the
// conversation's events stay in the log with those fields redacted
// (./redact.ts). Files in an S3 bucket are queued for removal by the
// attachments trigger (migration 0020) in this same transaction and removed
// after commit by the file sweeper (src/files/deletions.ts), with retries.
// Its emails (transcripts, an offline message's copy to the team) are
// cancelled when still pending, and their stored copies redacted, in the
// same transaction (redactEmails). Its rating stays, score only: the
// Satisfaction report of a past period does not change (src/ratings/report.ts).
// On PGlite the tables it changed are rewritten after commit, so nothing of
// it is left in the table files of DATA_DIR.

export interface Erasure {
  conversation_id: string;
  messages: number;
  notes: number;
  attachments: number;
  ratings: number;
  events_redacted: number;
  deliveries_redacted: number;
}

const count = async (tx: Queryable, sql: string, id: string) => (await tx.query(`${sql} returning 1`, [id])).length;

/**
 * `qiscus`: the Qiscus feed's URLs when Qiscus is connected (qiscusCallUrls):
 * the calls it had not queued yet for this conversation are queued here.
 * `onReclaimFailed`: told when the rewrite of the tables after commit
 * (PGlite only) failed; the erasure stands all the same.
 */
export async function eraseConversation(
  ctx: Ctx,
  given: string,
  actor: Actor,
  qiscus?: QiscusCallUrls,
  onReclaimFailed: (error: unknown) => void = () => {},
): Promise<Erasure> {
  // as stored and as every other event names it: a receiver matching conversation.erased's id to purge its copies finds them
  const id = given.toLowerCase();
  // the tables that held the conversation's rows, or old versions of rows rewritten here
  const changed = new Set(['conversations', 'events']);
  const changedIf = (rows: number, ...tables: string[]) => void (rows > 0 && tables.forEach((t) => changed.add(t)));
  const erasure = await withEvents(ctx, async (tx, emit) => {
    // `for update`: the row is deleted; a message, note, rating or transfer
    // racing the erasure waits and then finds no conversation.
    const [row] = await tx.query<{ state: ConversationState; agent_id: string | null }>('select state, agent_id from conversations where id = $1 for update', [id]);
    if (!row) throw notFound('conversation', id);
    if (OPEN_STATES.includes(row.state)) {
      throw conflict('SB_CONVERSATION_OPEN', `conversation ${id} is ${row.state}; resolve it before erasing it (an open conversation counts in its agent's load and the queue)`);
    }
    const [kinds] = await tx.query<{ messages: number; notes: number }>(
      'select count(*) filter (where not private)::int as messages, count(*) filter (where private)::int as notes from messages where conversation_id = $1',
      [id],
    );
    changedIf(await count(tx, 'delete from messages where conversation_id = $1', id), 'messages', 'message_search');
    const attachments = await count(tx, 'delete from attachments where conversation_id = $1', id);
    changedIf(attachments, 'attachments', 'attachment_bytes');
    // The rating stays without its comment, the customer's words: its score,
    // agent, department and time are what the Satisfaction report of its
    // period counts (src/ratings/report.ts), and a past period must not change.
    const ratings = await count(tx, 'update ratings set comment = null where conversation_id = $1', id);
    changedIf(ratings, 'ratings');
    await tx.query('delete from conversation_reads where conversation_id = $1', [id]);
    changedIf(await count(tx, 'delete from customer_sessions where conversation_id = $1', id), 'customer_sessions');
    // A feed running now (webhooks' fan-out, RapidPro's callbacks, Qiscus's
    // close syncs) read the events before this redaction: wait for it to
    // commit so what it queued is rewritten below; one starting later skips
    // its turn (its cursor is locked) and then reads redacted events.
    await tx.query('select 1 from outbox_cursors where name = any ($1::text[]) order by name for update', [FEED_CURSORS]);
    const events = await redactEvents(tx, id);
    await queueCloseBeforeErasure(tx, id, ctx.now());
    if (qiscus) await queueSyncBeforeErasure(tx, id, qiscus, ctx.now());
    const outbound = await lockOutbound(tx, id, events);
    // The room and ticket links go after the outbound rows are locked: a
    // ticketer's delete locks its callbacks, then deletes its tickets (by
    // cascade); taken the other way round, the two deadlocked (found by review).
    for (const table of ['qiscus_rooms', 'rapidpro_tickets']) {
      changedIf(await count(tx, `delete from ${table} where conversation_id = $1`, id), table);
    }
    changedIf(outbound.webhooks.length + outbound.channelCalls.length + outbound.emails.length, 'outbound_requests', 'outbound_attempts');
    const deliveries = await redactWebhookDeliveries(tx, events, outbound.webhooks);
    const calls = await redactChannelCalls(tx, outbound.channelCalls);
    await redactEmails(tx, outbound.emails);
    await forgetReplies(tx, [...outbound.webhooks, ...outbound.channelCalls, ...outbound.emails]);
    await tx.query('delete from conversations where id = $1', [id]);
    const erasure: Erasure = {
      conversation_id: id,
      messages: kinds!.messages,
      notes: kinds!.notes,
      attachments,
      ratings,
      events_redacted: events.length,
      deliveries_redacted: deliveries + calls,
    };
    emit({ type: 'conversation.erased', conversationId: id, agentId: row.agent_id, data: { ...erasure, by: actor.id } });
    // On PGlite, what this left in the files is noted with it: a rewrite below that fails, or a
    // process stopped in the middle of one, is made by the next erasure.
    await noteUnreclaimed(tx, ctx.db.kind, [...changed]);
    return erasure;
  });
  // On PGlite, once committed, the tables it changed are rewritten (VACUUM
  // FULL). A deleted row, and the old version of every row rewritten above
  // (the events, their deliveries), stayed in the table and index files of
  // DATA_DIR for good — PGlite runs no autovacuum — and so in every copy of
  // them taken as a backup; a plain VACUUM only marks their space free, and
  // their bytes stay until a new row lands on them (found by review). On
  // PostgreSQL autovacuum removes the rows in its time (docs/operations.md).
  // And those whose files hold rows of it deleted before, by other hands: the
  // delivery log pruned, a file swept unsent, a note edited or deleted.
  await unreclaimedTables(ctx.db)
    .then((earlier) => vacuumOnPglite(ctx.db, [...new Set([...changed, ...earlier])], { full: true }))
    .catch(onReclaimFailed);
  return erasure;
}

/** Rewrites the data of the conversation's events; returns them as they are now. */
async function redactEvents(tx: Queryable, conversationId: string): Promise<StoredEvent[]> {
  const rows = await tx.query<StoredEvent>('select id, type, conversation_id, agent_id, data, created_at from events where conversation_id = $1 order by id for update', [conversationId]);
  const redacted = rows.map((e) => ({ ...e, id: Number(e.id), data: redact(e.data) as Record<string, unknown> }));
  if (redacted.length > 0) {
    await tx.query('update events set data = r.data from unnest($1::bigint[], $2::jsonb[]) as r(id, data) where events.id = r.id', [
      redacted.map((e) => e.id),
      redacted.map((e) => JSON.stringify(e.data)),
    ]);
  }
  return redacted;
}

/** The feeds that turn events into outbound requests, in the order their cursors are locked. */
const FEED_CURSORS = [QISCUS_CURSOR, RAPIDPRO_CURSOR, WEBHOOK_CURSOR].sort();

interface OutboundOfConversation {
  webhooks: number[];
  /** RapidPro callbacks and Qiscus calls made from its events */
  channelCalls: number[];
  emails: number[];
}

/**
 * The conversation's rows in the outbox: what was made from its events
 * (webhook deliveries, RapidPro callbacks, Qiscus calls), and its emails,
 * found by their ordering keys (transcripts,
 * src/email/send-transcript.ts; the team's copy of an offline message,
 * src/email/offline.ts; src/email/outbox.ts names both). Locked in one
 * statement, in id order (the order RECORD, src/events/outbound/outbox.ts,
 * takes a batch's rows in): taken apart, webhooks then emails, or in a
 * batch's order, a worker's record holding one of them while waiting for
 * another could deadlock with this erasure.
 */
async function lockOutbound(tx: Queryable, conversationId: string, events: readonly StoredEvent[]): Promise<OutboundOfConversation> {
  // the email producer as a literal: the partial index of migration 0083 (outbound_email_by_key) is then the one read
  const emails = conversationEmails(conversationId, 2);
  const rows = await tx.query<{ id: number; producer: string }>(
    `select id, producer from outbound_requests
      where event_id = any ($1::bigint[])
         or (producer = '${EMAIL_PRODUCER}' and ${emails.sql})
      order by id
        for update`,
    [events.map((e) => e.id), ...emails.params],
  );
  const of = (...producers: string[]) => rows.filter((r) => producers.includes(r.producer)).map((r) => Number(r.id));
  return { webhooks: of(WEBHOOK_PRODUCER), channelCalls: of(RAPIDPRO_PRODUCER, QISCUS_PRODUCER), emails: of(EMAIL_PRODUCER) };
}

/** What an erased conversation's RapidPro message callback still waiting says in `last_error`: it never goes. */
export const CALLBACK_CANCELLED = 'cancelled: its conversation was erased';

/**
 * What the channels were asked to do with the conversation keeps only what
 * they need to do it. An agent's message to a RapidPro contact still
 * waiting is cancelled (sent now, it would deliver erased words), and every
 * one keeps its type, ticket and contact token with its `text` null and no
 * `attachments` (the events' redaction, ./redact.ts); a close-room still
 * goes, it holds nothing said. A Qiscus mark_as_resolved keeps its room and
 * goes, without the conversation's note; a remove_agent holds only ids.
 * Returns how many rows were rewritten.
 */
async function redactChannelCalls(tx: Queryable, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await tx.query<{ id: number; producer: string; name: string; body: Uint8Array }>(
    `select id, producer, name, body from outbound_requests where id = any ($1::bigint[]) and name in ('agent-message', $2)`,
    [ids, MARK_AS_RESOLVED],
  );
  if (rows.length === 0) return 0;
  // PGlite reads bytea as a Uint8Array, node-postgres as a Buffer
  const text = (body: Uint8Array) => Buffer.from(body).toString('utf8');
  const bodies = rows.map((r) => Buffer.from(r.producer === QISCUS_PRODUCER ? withoutNotes(text(r.body)) : JSON.stringify(redact(JSON.parse(text(r.body))))));
  await tx.query(
    `update outbound_requests o
        set body = r.body,
            state = case when o.producer = $3 and o.state = 'pending' then 'cancelled' else o.state end,
            last_error = case when o.producer = $3 and o.state = 'pending' then $4 else o.last_error end
       from unnest($1::bigint[], $2::bytea[]) as r(id, body)
      where o.id = r.id`,
    [rows.map((r) => r.id), bodies, RAPIDPRO_PRODUCER, CALLBACK_CANCELLED],
  );
  return rows.length;
}

/** A mark_as_resolved form (room_id, notes) with its notes emptied. */
function withoutNotes(body: string): string {
  const form = new URLSearchParams(body);
  if (form.has('notes')) form.set('notes', '');
  return form.toString();
}

/**
 * A receiver's reply may echo what it was sent (a webhook's body, the
 * message a channel took): the attempts of the rows made from the
 * conversation's events keep their status codes and times, not the replies.
 * The rows are marked `erased` (migration 0085): an attempt in flight now,
 * or a retry's later, is logged without its reply too (RECORD).
 * A signature an attempt logged before the worker stopped keeping them is
 * an HMAC over the unredacted body, which confirms a guess of the erased
 * text to whoever holds the endpoint's secret: it goes as well.
 */
async function forgetReplies(tx: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.query('update outbound_attempts set response_excerpt = null where request_id = any ($1::bigint[]) and response_excerpt is not null', [ids]);
  await tx.query(
    `update outbound_attempts
        set request_headers = (select jsonb_object_agg(h.key, case when h.key ~* $2 then to_jsonb('[redacted]'::text) else h.value end)
                                 from jsonb_each(request_headers) as h)
      where request_id = any ($1::bigint[])
        and exists (select 1 from jsonb_each_text(request_headers) as h where h.key ~* $2 and h.value <> '[redacted]')`,
    [ids, SIGNATURE_HEADERS_SQL],
  );
  await tx.query('update outbound_requests set erased = true where id = any ($1::bigint[])', [ids]);
}

/**
 * The webhook deliveries made from those events keep their bodies (the
 * delivery log, redeliveries, the retries still pending), so each is rebuilt
 * from its redacted event exactly as the fan-out built it: a receiver asking
 * for a redelivery, or getting a late retry, gets the redacted payload.
 */
async function redactWebhookDeliveries(tx: Queryable, events: readonly StoredEvent[], ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const byId = new Map(events.map((e) => [e.id, e]));
  const rows = await tx.query<{ id: number; event_id: number; name: string; app_code: string | null }>(
    `select r.id, r.event_id, r.name, w.app_code
       from outbound_requests r join webhook_endpoints w on w.id = r.endpoint_id
      where r.id = any ($1::bigint[])`,
    [ids],
  );
  if (rows.length === 0) return 0;
  const bodies = rows.map((r) => Buffer.from(JSON.stringify(payloadFor(byId.get(Number(r.event_id))!, r.name as SubscribableEvent, r.app_code))));
  await tx.query('update outbound_requests set body = r.body from unnest($1::bigint[], $2::bytea[]) as r(id, body) where outbound_requests.id = r.id', [
    rows.map((r) => r.id),
    bodies,
  ]);
  return rows.length;
}

/** What an erased email's `last_error` says when it was still waiting: it never goes. */
export const EMAIL_CANCELLED = 'cancelled: its conversation was erased';
/** What replaces an erased email's error texts (the relay's refusal may quote the recipient). */
export const EMAIL_ERROR_ERASED = '(erased with its conversation)';
/** An erased email row's header: migration 0083's trigger redacts an attempt recorded after the erasure by it. */
export const ERASED_HEADER = 'erased';
/**
 * The headers an erased email keeps besides its marker and the subject `(erased)`:
 * the envelope sender (the operator's, ENVELOPE_FROM) and who asked for it
 * (src/email/outbox.ts, REQUESTED_BY: only ever `customer`). The rest goes.
 */
const REQUESTED_BY_HEADER = 'requested-by';

/**
 * The conversation's emails (lockOutbound): one still pending is cancelled, never
 * sent; every one, whatever its state, keeps only what says that an email
 * went and how it fared (kind, state, times, status codes, message id, the
 * envelope sender) — its body (the messages, the customer's name and
 * address), its recipient (the customer, or whoever an agent sent it to;
 * an offline message's goes to the team's own address, kept), its subject
 * (an offline message's names the customer) and its attempts' relay replies
 * and errors (a refusal may quote the recipient) are overwritten.
 *
 * The rows are locked first (lockOutbound), so an attempt being recorded now
 * (RECORD, src/events/outbound/outbox.ts) has committed before the attempts
 * are redacted below, and one recorded later (the email was in flight: it
 * was leaving when the erasure began, and goes) waits for this commit:
 * RECORD moves only pending rows, so the cancelled row stays as written
 * here, and the trigger of migration 0083 redacts the attempt it logs.
 * A claim passes a locked row by (SKIP LOCKED) and finds it cancelled after.
 */
async function redactEmails(tx: Queryable, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  await tx.query(
    `update outbound_requests
        set state = case when state = 'pending' then 'cancelled' else state end,
            last_error = case when state = 'pending' then $2 when last_error is null then null else $3 end,
            body = ''::bytea,
            url = case when name = 'offline_message' then url else 'mailto:' end,
            headers = jsonb_strip_nulls(jsonb_build_object($4::text, headers -> $4::text, $5::text, headers -> $5::text))
                      || jsonb_build_object('subject', '(erased)', $6::text, 'true')
      where id = any ($1::bigint[])`,
    [ids, EMAIL_CANCELLED, EMAIL_ERROR_ERASED, ENVELOPE_FROM, REQUESTED_BY_HEADER, ERASED_HEADER],
  );
  await tx.query(
    `update outbound_attempts a
        set response_excerpt = null,
            error = case when a.error is null then null else $2 end,
            request_headers = o.headers
       from outbound_requests o
      where a.request_id = any ($1::bigint[]) and o.id = a.request_id`,
    [ids, EMAIL_ERROR_ERASED],
  );
  return ids.length;
}
