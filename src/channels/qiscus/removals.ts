import type { Ctx } from '../../context.js';
import { claimNew, enqueue, type ClaimedRow, type ClaimSlots, type NewOutbound } from '../../events/outbound/outbox.js';
import type { Feed } from '../../events/outbound/worker.js';
import { LOCKED_CURSOR, LOG_ORDER, MOVE_CURSOR, NOT_PASSED, PAST, WAITING } from '../../events/log.js';
import { CURSOR, PRODUCER, QISCUS_SOURCE, REFUSED_REASON, REMOVE_AGENT, roomOrderingKey } from './constants.js';
import { ASSIGN_MAX_ATTEMPTS } from './producer.js';

// When Switchboard takes a Qiscus room back from its agent — a supervisor's
// requeue, a transfer to '@qiscus', the agent deleted — the agent is still in
// the room in Qiscus until someone removes them. The core knows nothing of
// Qiscus: it records `conversation.queued` with the previous agent, like for
// any conversation. This feed reads those events after its own cursor and
// enqueues remove_agent in the transaction that moves the cursor, so each
// becomes its call exactly once, whichever process reads it. A room Qiscus
// itself refused the agent for (REFUSED_REASON) has nobody to remove.

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

interface PageRow {
  /** the last event of the page (its position), how many it holds, and whether the cursor was moved already: the same on every row */
  last_id: number | null;
  last_xid_bound: number | null;
  events: number;
  moved: boolean;
  /** null on the one row of a page with no room taken back */
  id: number | null;
  conversation_id: string | null;
  room_id: string | null;
  /** the previous agent's Qiscus id; null when they were no Qiscus agent */
  qiscus_agent_id: string | null;
}

/**
 * One page of events after the cursor, with the Qiscus rooms taken back in
 * it; nothing while another process holds the cursor. Most pages call for
 * no removal: the same statement moves the cursor past them, so the feed
 * costs one statement per commit it wakes for, not three.
 */
const PAGE = /* sql */ `
  with page as (
    select e.id, e.xid_bound, e.type, e.conversation_id, e.agent_id, e.data
      from events e
     where ${PAST('e', LOCKED_CURSOR('$1'))}
     order by ${LOG_ORDER('e')} limit $2
  ), last as (
    select xid_bound, id from page order by xid_bound desc, id desc limit 1
  ), taken as (
    select p.id, p.conversation_id, c.external_ref as room_id, a.external_ref as qiscus_agent_id
      from page p
      join conversations c on c.id = p.conversation_id and c.channel = 'qiscus'
      left join agents a on a.id = p.agent_id and a.source = $3
     where ${TAKEN_BACK('p')}
  ), moved as (
    update outbox_cursors set (last_xid_bound, last_event_id) = (select xid_bound, id from last)
     where name = $1 and exists (select 1 from page)
       and not exists (select 1 from taken where room_id is not null and qiscus_agent_id is not null)
    returning name
  )
  select (select id from last) as last_id, (select xid_bound from last) as last_xid_bound, (select count(*)::int from page) as events,
         exists (select 1 from moved) as moved, t.*
    from (select 1) one left join taken t on true
   order by t.id`;

export interface RemovalResult {
  events: number;
  /** Qiscus rooms that went back to the queue from an agent */
  takenBack: number;
  removals: number;
  claimed: ClaimedRow[];
  /** events committed past the cursor are not final yet: look again in a moment */
  waiting: boolean;
}

function removal(row: PageRow, url: string): NewOutbound {
  return {
    producer: PRODUCER,
    eventId: row.id,
    messageId: `remove:${row.conversation_id}:${row.id}`,
    name: REMOVE_AGENT,
    orderingKey: roomOrderingKey(row.room_id!),
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: Buffer.from(new URLSearchParams({ room_id: row.room_id!, agent_id: row.qiscus_agent_id! }).toString()),
    maxAttempts: ASSIGN_MAX_ATTEMPTS,
  };
}

/** Turns one page of new events into remove_agent calls; with `claim`, also leases those that may go now. */
export async function feedRemovals(ctx: Ctx, removeUrl: string, options: { pageSize?: number; claim?: ClaimSlots } = {}): Promise<RemovalResult> {
  return ctx.db.transaction(async (tx) => {
    const rows = await tx.query<PageRow>(PAGE, [CURSOR, options.pageSize ?? 1_000, QISCUS_SOURCE]);
    const first = rows[0]!;
    const taken = rows.filter((r) => r.id !== null);
    if (first.last_id === null) {
      const [{ waiting }] = (await tx.query<{ waiting: boolean }>(WAITING(CURSOR))) as [{ waiting: boolean }];
      return { events: 0, takenBack: 0, removals: 0, claimed: [], waiting };
    }
    if (first.moved) return { events: first.events, takenBack: taken.length, removals: 0, claimed: [], waiting: false };
    // A room opened through the core API has no room id, and an agent who is no Qiscus agent was never in a Qiscus room.
    const requests = taken.filter((r) => r.room_id !== null && r.qiscus_agent_id !== null).map((r) => removal(r, removeUrl));
    const now = ctx.now();
    const ids = await enqueue(tx, requests, now);
    await tx.query(MOVE_CURSOR, [CURSOR, first.last_xid_bound, first.last_id]);
    const claimed = options.claim ? await claimNew(tx, ids, now, options.claim) : [];
    return { events: first.events, takenBack: taken.length, removals: ids.length, claimed, waiting: false };
  }, { groupCommit: true }); // durable before anything is sent; the commit's NOTIFY lock is not held over the disk flush (0027)
}

/**
 * The feed the outbound worker runs. Once rooms taken back have their
 * removals enqueued, `onTakenBack` asks for an allocation pass: a
 * supervisor's requeue is served at once, not at the next poll.
 */
export function removalFeed(removeUrl: string, hooks: { onTakenBack(): void }): Feed {
  return async (ctx, claim) => {
    const { events, takenBack, claimed, waiting } = await feedRemovals(ctx, removeUrl, { claim });
    if (takenBack > 0) hooks.onTakenBack();
    return { read: events, claimed, waiting };
  };
}
