import type { Ctx } from '../../context.js';
import { IS_OPEN } from '../../conversations/model.js';
import { claimNew, enqueue, type ClaimedRow, type ClaimSlots, type NewOutbound } from '../../events/outbound/outbox.js';
import type { Feed } from '../../events/outbound/worker.js';
import { LOCKED_CURSOR, LOG_ORDER, MOVE_CURSOR, NOT_PASSED, PAST, WAITING } from '../../events/log.js';
import { CLOSED_BY_QISCUS, CURSOR, MARK_AS_RESOLVED, MARK_AS_RESOLVED_PATH, PRODUCER, QISCUS_SOURCE, REFUSED_REASON, releaseMessageId, REMOVE_AGENT, resolveMessageId, roomOrderingKey } from './constants.js';
import type { QiscusConfig } from './config.js';
import { ASSIGN_MAX_ATTEMPTS, RESOLVE_MAX_ATTEMPTS } from './producer.js';
import type { Queryable } from '../../store/db.js';

// When Switchboard takes a Qiscus room back from its agent — a supervisor's
// requeue, a transfer to '@qiscus', the agent deleted — the agent is still in
// the room in Qiscus until someone removes them. The core knows nothing of
// Qiscus: it records `conversation.queued` with the previous agent, like for
// any conversation. This feed reads those events after its own cursor and
// enqueues remove_agent in the transaction that moves the cursor, so each
// becomes its call exactly once, whichever process reads it. A room Qiscus
// itself refused the agent for (REFUSED_REASON) has nobody to remove.
//
// The same feed closes in Qiscus the rooms Switchboard closed (with
// `resolveUrl`, QISCUS_SYNC_RESOLVE): a `conversation.resolved` becomes
// mark_as_resolved, a `conversation.abandoned` of a room an agent held (the
// allocator gave up on it) becomes remove_agent, which hands the room back to
// Qiscus unserved. Rooms Qiscus closed itself (CLOSED_BY_QISCUS) are not
// echoed back, and neither is a room that is open again in Switchboard (a new
// conversation for the same room): Qiscus' room is live again.

/** The events that call for a removal: the room went back to the queue from an agent, not by Qiscus' refusal. */
const TAKEN_BACK = (e: string) => /* sql */ `
  ${e}.type = 'conversation.queued' and ${e}.agent_id is not null and ${e}.data->>'reason' is distinct from '${REFUSED_REASON}'`;

/**
 * True for a room (`c`, a conversations row) whose removal the feed has not
 * enqueued yet. The allocator leaves such a room alone: an assign_agent
 * enqueued before the removal would be sent first (the outbox keeps a
 * room's calls in id order) and meet the old agent still in the room. The
 * feed kicks the allocator once it has read the event.
 */
export const AWAITS_REMOVAL = /* sql */ `exists (
  select 1 from events e
   where e.conversation_id = c.id and ${TAKEN_BACK('e')}
     and ${NOT_PASSED('e', CURSOR)})`;

type CallKind = 'remove' | 'resolve' | 'release';

interface PageRow {
  /** the last event of the page (its position), how many it holds, and whether the cursor was moved already: the same on every row */
  last_id: number | null;
  last_xid_bound: number | null;
  events: number;
  moved: boolean;
  /** committed events past the page are not final yet (an older transaction is still open) */
  waiting: boolean;
  /** null on the one row of a page with no room taken back or closed */
  id: number | null;
  kind: CallKind | null;
  conversation_id: string | null;
  room_id: string | null;
  /** the previous agent's Qiscus id; null when they were no Qiscus agent */
  qiscus_agent_id: string | null;
  /** the conversation's note, for mark_as_resolved */
  note: string | null;
}

/**
 * The Qiscus calls an event (alias `p`, its conversation `c`, its agent's
 * mirror `a`, the room's record `q`) asks for, or null: $4 says whether
 * closes are synced, $5 lists the reasons of closes Qiscus made itself.
 */
const KIND = /* sql */ `
  case
    when ${TAKEN_BACK('p')} then 'remove'
    when not $4 or c.external_ref is null or coalesce(c.resolve_reason, '') = any ($5::text[])
      or exists (select 1 from conversations o
                  where o.channel = 'qiscus' and o.external_ref = c.external_ref and ${IS_OPEN('o')}) then null
    when p.type = 'conversation.resolved' then 'resolve'
    -- only an agent Qiscus put in the room can be taken out: not one it refused for this room
    when p.type = 'conversation.abandoned' and a.external_ref is not null and a.external_ref is distinct from q.refused_agent_id then 'release'
  end`;

/**
 * One page of events after the cursor, with the Qiscus rooms taken back or
 * closed in it; nothing while another process holds the cursor. Most pages
 * call for nothing: the same statement moves the cursor past them, and says
 * whether events past the page are still to become final, so the feed costs
 * one statement per commit it wakes for, not three.
 */
const PAGE = /* sql */ `
  with page as (
    select e.id, e.xid_bound, e.type, e.conversation_id, e.agent_id, e.data
      from events e
     where ${PAST('e', LOCKED_CURSOR('$1'))}
     order by ${LOG_ORDER('e')} limit $2
  ), last as (
    select xid_bound, id from page order by xid_bound desc, id desc limit 1
  ), kinds as (
    select p.id, p.conversation_id, c.external_ref as room_id, a.external_ref as qiscus_agent_id, c.note, ${KIND} as kind
      from page p
      join conversations c on c.id = p.conversation_id and c.channel = 'qiscus'
      left join agents a on a.id = p.agent_id and a.source = $3
      left join qiscus_rooms q on q.conversation_id = c.id
     where p.type in ('conversation.queued', 'conversation.resolved', 'conversation.abandoned')
  ), taken as (
    select * from kinds where kind is not null
  ), moved as (
    update outbox_cursors set (last_xid_bound, last_event_id) = (select xid_bound, id from last)
     where name = $1 and exists (select 1 from page)
       and not exists (select 1 from taken where room_id is not null and (kind = 'resolve' or qiscus_agent_id is not null))
    returning name
  )
  select (select id from last) as last_id, (select xid_bound from last) as last_xid_bound, (select count(*)::int from page) as events,
         exists (select 1 from moved) as moved, (${WAITING(CURSOR)}) as waiting, t.*
    from (select 1) one left join taken t on true
   order by t.id`;

export interface RemovalResult {
  events: number;
  /** a full page was read: more events may be behind it */
  more: boolean;
  /** Qiscus rooms that went back to the queue from an agent */
  takenBack: number;
  /** calls enqueued: removals of agents from rooms taken back, mark_as_resolved and releases of rooms closed */
  removals: number;
  claimed: ClaimedRow[];
  /** events committed past the cursor are not final yet: look again in a moment */
  waiting: boolean;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

function removal(row: PageRow, url: string): NewOutbound {
  return {
    producer: PRODUCER,
    eventId: row.id,
    messageId: row.kind === 'release' ? releaseMessageId(row.conversation_id!, row.id!) : `remove:${row.conversation_id}:${row.id}`,
    name: REMOVE_AGENT,
    orderingKey: roomOrderingKey(row.room_id!),
    url,
    headers: FORM,
    body: Buffer.from(new URLSearchParams({ room_id: row.room_id!, agent_id: row.qiscus_agent_id! }).toString()),
    // nobody waits for a release: it may wait out a longer outage, like mark_as_resolved
    maxAttempts: row.kind === 'release' ? RESOLVE_MAX_ATTEMPTS : ASSIGN_MAX_ATTEMPTS,
  };
}

/**
 * mark_as_resolved as the outbox keeps it: room_id and notes. The room's
 * last_comment_id is read from Qiscus at each attempt and added then
 * (producer.ts): a stored one would be stale by the time a retry goes.
 */
function resolution(row: PageRow, url: string): NewOutbound {
  return {
    producer: PRODUCER,
    eventId: row.id,
    messageId: resolveMessageId(row.conversation_id!),
    name: MARK_AS_RESOLVED,
    orderingKey: roomOrderingKey(row.room_id!),
    url,
    headers: FORM,
    body: Buffer.from(new URLSearchParams({ room_id: row.room_id!, notes: row.note ?? '' }).toString()),
    maxAttempts: RESOLVE_MAX_ATTEMPTS,
  };
}

/** The calls this feed makes: remove_agent, and mark_as_resolved when closes are synced (QISCUS_SYNC_RESOLVE). */
export interface QiscusCallUrls {
  removeUrl: string;
  resolveUrl?: string;
}

/** The feed's URLs for this configuration; undefined when Qiscus is not connected (no feed runs). */
export function qiscusCallUrls(config: Pick<QiscusConfig, 'api' | 'syncResolve'>): QiscusCallUrls | undefined {
  if (!config.api) return undefined;
  return {
    removeUrl: `${config.api.baseUrl}/api/v1/admin/service/remove_agent`,
    ...(config.syncResolve ? { resolveUrl: `${config.api.baseUrl}${MARK_AS_RESOLVED_PATH}` } : {}),
  };
}

/**
 * A conversation's ($1) events the feed has not read, with the call each
 * asks for ($2 unused but typed: KIND's parameters keep PAGE's numbers).
 */
const NOT_READ_FOR = /* sql */ `
  select p.id, p.conversation_id, c.external_ref as room_id, a.external_ref as qiscus_agent_id, null::text as note, ${KIND} as kind
    from events p
    join conversations c on c.id = p.conversation_id and c.channel = 'qiscus'
    left join agents a on a.id = p.agent_id and a.source = $3
    left join qiscus_rooms q on q.conversation_id = c.id
   where p.conversation_id = $1 and p.type in ('conversation.queued', 'conversation.resolved', 'conversation.abandoned')
     and ${NOT_PASSED('p', CURSOR)}
   order by ${LOG_ORDER('p')}
   limit $2`;

/**
 * Queues the calls the feed owes Qiscus for a conversation about to be
 * erased, which deletes the conversation and room record the feed would
 * find them by: erased before the feed's turn (a script resolving and
 * erasing at once), the room stayed open in Qiscus (found by review). The
 * caller holds the feed's cursor, so no page is being read meanwhile; when
 * the feed reads these events later it finds no conversation and sends
 * nothing more. mark_as_resolved goes without the conversation's note.
 * Returns how many were queued.
 */
export async function queueSyncBeforeErasure(tx: Queryable, conversationId: string, urls: QiscusCallUrls, now: Date): Promise<number> {
  const rows = await tx.query<PageRow>(NOT_READ_FOR, [conversationId, 1_000, QISCUS_SOURCE, urls.resolveUrl !== undefined, CLOSED_BY_QISCUS]);
  const requests = rows
    .filter((r) => r.kind !== null && r.room_id !== null && (r.kind === 'resolve' || r.qiscus_agent_id !== null))
    .map((r) => (r.kind === 'resolve' ? resolution(r, urls.resolveUrl!) : removal(r, urls.removeUrl)));
  return (await enqueue(tx, requests, now)).length;
}

export interface FeedOptions {
  pageSize?: number;
  claim?: ClaimSlots;
  /** Qiscus' mark_as_resolved URL: rooms closed in Switchboard are closed in Qiscus too; absent, they are not */
  resolveUrl?: string;
}

/**
 * Turns one page of new events into remove_agent calls (and, with
 * `resolveUrl`, mark_as_resolved calls and releases); with `claim`, also
 * leases those that may go now.
 */
export async function feedRemovals(ctx: Ctx, removeUrl: string, options: FeedOptions = {}): Promise<RemovalResult> {
  const pageSize = options.pageSize ?? 1_000;
  const params = [CURSOR, pageSize, QISCUS_SOURCE, options.resolveUrl !== undefined, CLOSED_BY_QISCUS];
  /** the page's outcome when it called for nothing (the statement moved the cursor itself), else undefined */
  const nothingIn = (rows: readonly PageRow[]): RemovalResult | undefined => {
    const first = rows[0]!;
    const takenBack = rows.filter((r) => r.kind === 'remove').length;
    if (first.last_id === null) return { events: 0, more: false, takenBack: 0, removals: 0, claimed: [], waiting: first.waiting };
    if (first.moved) return { events: first.events, more: first.events >= pageSize, takenBack, removals: 0, claimed: [], waiting: first.waiting };
    return undefined;
  };
  // Nearly every page calls for nothing (the feed wakes at every commit): it is tried as a transaction of one
  // statement, one round trip (issue #22), and read again in a transaction only when it has calls to enqueue.
  const alone = nothingIn(await ctx.db.transactOne<PageRow>(PAGE, params));
  if (alone) return alone;
  return ctx.db.transaction(async (tx) => {
    const rows = await tx.query<PageRow>(PAGE, params);
    const done = nothingIn(rows);
    if (done) return done;
    const first = rows[0]!;
    const all = rows.filter((r) => r.id !== null);
    const taken = all.filter((r) => r.kind === 'remove');
    const { waiting } = first;
    const more = first.events >= pageSize;
    // A room opened through the core API has no room id, and an agent who is no Qiscus agent was never in a Qiscus room.
    const requests = all
      .filter((r) => r.room_id !== null && (r.kind === 'resolve' || r.qiscus_agent_id !== null))
      .map((r) => (r.kind === 'resolve' ? resolution(r, options.resolveUrl!) : removal(r, removeUrl)));
    const now = ctx.now();
    const ids = await enqueue(tx, requests, now);
    await tx.query(MOVE_CURSOR, [CURSOR, first.last_xid_bound, first.last_id]);
    const claimed = options.claim ? await claimNew(tx, ids, now, options.claim) : [];
    return { events: first.events, more, takenBack: taken.length, removals: ids.length, claimed, waiting };
  }, { groupCommit: true }); // durable before anything is sent; the commit's NOTIFY lock is not held over the disk flush (0027)
}

/**
 * The feed the outbound worker runs. Once rooms taken back have their
 * removals enqueued, `onTakenBack` asks for an allocation pass: a
 * supervisor's requeue is served at once, not at the next poll.
 */
export function removalFeed(removeUrl: string, hooks: { onTakenBack(): void }, resolveUrl?: string): Feed {
  return async (ctx, claim) => {
    const { events, more, takenBack, removals, claimed, waiting } = await feedRemovals(ctx, removeUrl, { claim, resolveUrl });
    if (takenBack > 0) hooks.onTakenBack();
    return { read: events, claimed, waiting, enqueued: removals, more };
  };
}
