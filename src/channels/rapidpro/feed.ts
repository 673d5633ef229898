import type { Ctx } from '../../context.js';
import type { Attachment, Message } from '../../conversations/messages.js';
import type { Conversation } from '../../conversations/model.js';
import { claimNew, enqueue, type ClaimedRow, type ClaimSlots, type NewOutbound } from '../../events/outbound/outbox.js';
import type { Feed } from '../../events/outbound/worker.js';
import { presentAttachments, type Files } from '../../files/files.js';
import { renewedLinks } from '../../files/fresh-links.js';
import { END_OF_LOG, LOCKED_CURSOR, LOG_ORDER, MOVE_CURSOR, NOT_PASSED, PAST, WAITING } from '../../events/log.js';
import type { Queryable } from '../../store/db.js';
import { CLOSE_REASONS } from './ticketers.js';

// Turns events about RapidPro tickets into callbacks to mailroom: an agent's
// message → agent-message, a room closed by anything but RapidPro itself →
// close-room. It reads the event log after its own cursor and enqueues the
// callbacks in the transaction that moves the cursor, so each event becomes
// its callback exactly once, whichever process reads it.

export const CURSOR = 'rapidpro';
export const PRODUCER = 'rapidpro';

/**
 * Callbacks about one ticket go out one at a time, in event order: a
 * close-room never overtakes the agent's last message. The ticketer's UUID
 * is in the key so the producer knows whose secret to send.
 */
export const orderingKey = (ticketerUuid: string, ticketId: string) => `rapidpro:${ticketerUuid}:${ticketId}`;
export const ticketerOfKey = (key: string | null) => (key?.startsWith('rapidpro:') ? key.slice('rapidpro:'.length, 'rapidpro:'.length + 36) : undefined);
export const ticketOfKey = (key: string | null) => (key?.startsWith('rapidpro:') ? key.slice('rapidpro:'.length + 37) : undefined);

/**
 * Never given up while mailroom fails or cannot be reached: after the
 * schedule's retries, one a day, until mailroom takes it (the original app
 * lost agent messages by dropping them). The delivery log shows the callback
 * pending with its last error meanwhile. Only mailroom's refusals end it
 * (the producer's decide).
 */
export const CALLBACK_MAX_ATTEMPTS = 1_000_000;

interface PageRow {
  id: number;
  xid_bound: number;
  type: string;
  /** only for events about a ticket that may need a callback */
  data: { message?: Message; conversation?: Conversation } | null;
  ticketer_uuid: string | null;
  ticket_id: string | null;
  visitor_token: string | null;
  callback_url: string | null;
}

/** One page of events after the cursor, with the ticket each one is about; nothing while another process holds the cursor. */
const PAGE = /* sql */ `
  select e.id, e.xid_bound, e.type, t.ticketer_uuid, t.ticket_id, t.visitor_token, k.callback_url,
         case when t.ticket_id is not null and e.type in ('message.created', 'conversation.resolved', 'conversation.abandoned')
              then e.data end as data
    from events e
    left join rapidpro_tickets t on t.conversation_id = e.conversation_id
    left join rapidpro_ticketers k on k.uuid = t.ticketer_uuid
   where ${PAST('e', LOCKED_CURSOR('$1'))}
     and exists (select 1 from rapidpro_ticketers)
   order by ${LOG_ORDER('e')} limit $2`;

/**
 * With no ticketer there is nothing to call back: skip to the end of the log
 * without reading it. One statement, one snapshot: a ticket opened after it
 * belongs to a ticketer created after it, so its events come after this
 * position (and events not final yet are not passed).
 */
const SKIP_TO_END = /* sql */ `
  update outbox_cursors k set (last_xid_bound, last_event_id) = ${END_OF_LOG('k')}
   where name = (select name from outbox_cursors where name = $1 for update skip locked)
     and not exists (select 1 from rapidpro_ticketers)
  returning name`;

export interface Callback {
  ticketerUuid: string;
  ticketId: string;
  request: NewOutbound;
}

/** Uploaded files become signed absolute links, which mailroom fetches without a token. */
type Present = (attachments: readonly Attachment[]) => Attachment[];

function agentMessage(row: PageRow, message: Message, present: Present) {
  const data: { text: string; attachments?: Attachment[] } = { text: message.text ?? '' };
  // an uploaded file keeps its id in the queued body: only a link to a file the message carries is signed
  // afresh at each attempt (src/files/fresh-links.ts); withFreshLinks takes it out before mailroom sees it
  if (message.attachments.length > 0) data.attachments = present(message.attachments).map((a) => ({ type: a.type, url: a.url, ...(typeof a.id === 'string' ? { id: a.id } : {}) }));
  return { type: 'agent-message', ticketID: row.ticket_id, visitor: { token: row.visitor_token }, data };
}

function closeRoom(row: PageRow) {
  return { type: 'close-room', ticketID: row.ticket_id, visitor: { token: row.visitor_token } };
}

/** The mailroom payload an event calls for, if any. */
function payloadFor(row: PageRow, present: Present): { type: string } | undefined {
  if (!row.data) return undefined;
  if (row.type === 'message.created') return row.data.message?.sender === 'agent' ? agentMessage(row, row.data.message, present) : undefined;
  // RapidPro closed it (room.close) and knows; a deleted ticketer has no one to tell.
  const reason = row.data.conversation?.resolve_reason;
  if (reason === CLOSE_REASONS.byRapidPro || reason === CLOSE_REASONS.ticketerDeleted) return undefined;
  return closeRoom(row);
}

export function callbacksFor(rows: readonly PageRow[], present: Present = (a) => [...a]): Callback[] {
  const callbacks: Callback[] = [];
  for (const row of rows) {
    const payload = payloadFor(row, present);
    if (!payload) continue;
    const ticketerUuid = row.ticketer_uuid!;
    const ticketId = row.ticket_id!;
    callbacks.push({
      ticketerUuid,
      ticketId,
      request: {
        producer: PRODUCER,
        eventId: row.id,
        messageId: `rapidpro_${row.id}`,
        name: payload.type,
        orderingKey: orderingKey(ticketerUuid, ticketId),
        // A record only: read without a lock, it may predate a PUT settings committing beside this page, which
        // then re-targets no row of it. Each attempt goes to the ticketer's URL as it is then (the producer).
        url: row.callback_url ?? '',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(payload)),
        maxAttempts: CALLBACK_MAX_ATTEMPTS,
      },
    });
  }
  return callbacks;
}

/**
 * A callback's body with its file links signed afresh, for the attempt about
 * to go (the producer's transport calls this; src/files/fresh-links.ts). A
 * callback is retried for as long as mailroom refuses it: one still waiting
 * past ATTACHMENT_OUTBOUND_LINK_TTL went with dead links, mailroom (which
 * fetches each file) answered 400 at every attempt, and the ticket's later
 * callbacks, its close-room too, waited behind it for good. Any body that is
 * not an agent-message with attachments passes as it is.
 */
export function withFreshLinks(body: Buffer, files: Files | undefined, now: Date): Buffer {
  if (!body.includes('"attachments"')) return body;
  let payload: { type?: unknown; data?: { attachments?: unknown } };
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    return body;
  }
  const attachments = payload?.type === 'agent-message' ? payload.data?.attachments : undefined;
  if (!Array.isArray(attachments)) return body;
  const fresh = (files ? renewedLinks(files, attachments, now) : undefined) ?? attachments;
  // mailroom gets {type, url}, as the contract has it: the id was only for the renewal
  const carriesId = fresh.some((a) => typeof a === 'object' && a !== null && 'id' in a);
  if (fresh === attachments && !carriesId) return body;
  const wire = fresh.map((a) => (typeof a === 'object' && a !== null && 'id' in a ? (({ id: _id, ...rest }) => rest)(a as { id: unknown }) : a));
  return Buffer.from(JSON.stringify({ ...payload, data: { ...payload.data, attachments: wire } }));
}

/** Queues callbacks, each linked to its ticketer and ticket (the callback log, a ticketer's changes); returns their ids. */
async function enqueueCallbacks(tx: Queryable, callbacks: readonly Callback[], now: Date): Promise<number[]> {
  const ids = await enqueue(tx, callbacks.map((c) => c.request), now);
  if (ids.length > 0) {
    await tx.query(
      `insert into rapidpro_callbacks (request_id, ticketer_uuid, ticket_id)
       select * from unnest($1::bigint[], $2::uuid[], $3::text[])`,
      [ids, callbacks.map((c) => c.ticketerUuid), callbacks.map((c) => c.ticketId)],
    );
  }
  return ids;
}

/**
 * A conversation's close ($1) the feed has not read yet, with its ticket.
 * The ticketer is key-shared, as the callback's foreign key will: a
 * ticketer being deleted is waited for, and then has no close queued (its
 * delete cancelled the callbacks), where the check failed after it (23503, a 500).
 */
const CLOSE_NOT_READ = /* sql */ `
  select e.id, e.xid_bound, e.type, t.ticketer_uuid, t.ticket_id, t.visitor_token, k.callback_url, e.data
    from events e
    join rapidpro_tickets t on t.conversation_id = e.conversation_id
    join rapidpro_ticketers k on k.uuid = t.ticketer_uuid
   where e.conversation_id = $1 and e.type in ('conversation.resolved', 'conversation.abandoned')
     and ${NOT_PASSED('e', CURSOR)}
   order by ${LOG_ORDER('e')}
     for key share of k`;

/**
 * Queues the close-room the feed owes mailroom for a conversation about to
 * be erased, which deletes the ticket the feed would find it by: erased
 * before the feed's turn (a script resolving and erasing at once), the
 * ticket stayed open in RapidPro for good (found by review). The caller
 * holds the feed's cursor, so no page is being read meanwhile; when the
 * feed reads the close later it finds no ticket and sends nothing more. Only
 * the close: a message the feed has not read is never sent (it would
 * deliver erased words). Returns how many were queued.
 */
export async function queueCloseBeforeErasure(tx: Queryable, conversationId: string, now: Date): Promise<number> {
  const rows = await tx.query<PageRow>(CLOSE_NOT_READ, [conversationId]);
  return (await enqueueCallbacks(tx, callbacksFor(rows), now)).length;
}

export interface FeedResult {
  events: number;
  callbacks: number;
  claimed: ClaimedRow[];
  /** no ticketer exists: the cursor skipped to the end of the log */
  noTicketers: boolean;
  /** events committed past the cursor are not final yet: look again in a moment */
  waiting: boolean;
}

/** Turns one page of new events into callbacks; with `claim`, also leases those that may go now, for the caller to send at once. */
export async function feedCallbacks(ctx: Ctx, options: { pageSize?: number; claim?: ClaimSlots } = {}): Promise<FeedResult> {
  return ctx.db.transaction(async (tx) => {
    const rows = await tx.query<PageRow>(PAGE, [CURSOR, options.pageSize ?? 1_000]);
    if (rows.length === 0) {
      const skipped = await tx.query(SKIP_TO_END, [CURSOR]);
      const [{ waiting }] = (await tx.query<{ waiting: boolean }>(WAITING(CURSOR))) as [{ waiting: boolean }];
      return { events: 0, callbacks: 0, claimed: [], noTicketers: skipped.length > 0, waiting };
    }
    const now = ctx.now();
    const callbacks = callbacksFor(rows, (attachments) => presentAttachments(ctx.files, attachments, now, 'outbound'));
    const ids = await enqueueCallbacks(tx, callbacks, now);
    const last = rows[rows.length - 1]!;
    await tx.query(MOVE_CURSOR, [CURSOR, last.xid_bound, last.id]);
    const claimed = options.claim ? await claimNew(tx, ids, now, options.claim) : [];
    return { events: rows.length, callbacks: callbacks.length, claimed, noTicketers: false, waiting: false };
  }, { groupCommit: true }); // durable before anything is sent; the commit's NOTIFY lock is not held over the disk flush (0027)
}

/**
 * The feed the outbound worker runs. While no ticketer exists it looks again
 * only every `idleRecheckMs`, so a server without RapidPro does not pay a
 * transaction per commit for it; a new ticketer's first callbacks wait at
 * most that long.
 */
export function rapidproFeed(options: { idleRecheckMs?: number } = {}): Feed {
  let idleUntil = 0;
  return async (ctx, claim) => {
    if (Date.now() < idleUntil) return { read: 0, claimed: [] };
    const { events, claimed, noTicketers, waiting } = await feedCallbacks(ctx, { claim });
    idleUntil = noTicketers ? Date.now() + (options.idleRecheckMs ?? 0) : 0;
    return { read: events, claimed, waiting: waiting && !noTicketers };
  };
}
