import type { Ctx } from '../../context.js';
import type { StoredEvent } from '../outbox.js';
import { claimNew, enqueue, type ClaimedRow, type ClaimSlots, type NewOutbound } from '../outbound/outbox.js';
import { MAX_ATTEMPTS } from '../outbound/retry.js';
import { END_OF_LOG, LOCKED_CURSOR, LOG_ORDER, MOVE_CURSOR, PAST, WAITING, type LogPosition } from '../log.js';
import { deliveryNamesFor } from './catalog.js';
import { messageIdFor, payloadFor } from './payloads.js';
import { presentAttachments } from '../../files/files.js';
import type { Message } from '../../conversations/messages.js';

/** A message's uploaded files reach receivers as absolute signed links: they fetch without a token. */
function withFileLinks<E extends StoredEvent>(ctx: Ctx, event: E): E {
  const message = (event.data as { message?: Message }).message;
  if (event.type !== 'message.created' || !message?.attachments?.length) return event;
  return { ...event, data: { ...event.data, message: { ...message, attachments: presentAttachments(ctx.files, message.attachments, ctx.now(), 'outbound') } } };
}

// Reads the event log after a persisted cursor and turns each event into one
// delivery per subscribed endpoint and name, in the transaction that moves
// the cursor: an event is fanned out exactly once, whichever process does it.
// The cursor follows the log order below its horizon (src/events/log.ts), so
// an event that commits after later ones is still read, in its turn.

export const CURSOR = 'webhooks';
export const PRODUCER = 'webhook';

interface Subscriber {
  id: string;
  url: string;
  events: string[];
  verify_ssl: boolean;
  app_code: string | null;
  /** where in the log it starts: it gets the events after (since_xid_bound, since_event_id) in (xid_bound, id) order */
  since_xid_bound: number;
  since_event_id: number;
}

/** Whether the event comes after the endpoint's start in the log's order (not by id: ids are drawn before commit). */
const afterStart = (event: LogPosition, endpoint: Subscriber) =>
  event.xid_bound > endpoint.since_xid_bound || (event.xid_bound === endpoint.since_xid_bound && event.id > endpoint.since_event_id);

/**
 * Deliveries to one endpoint about one conversation go out one at a time, in
 * event order; so do those about one agent. Others are independent.
 */
export function orderingKey(endpointId: string, event: Pick<StoredEvent, 'conversation_id' | 'agent_id'>): string | null {
  if (event.conversation_id) return `${endpointId}:conversation:${event.conversation_id}`;
  if (event.agent_id) return `${endpointId}:agent:${event.agent_id}`;
  return null;
}

export function deliveriesFor(events: readonly (StoredEvent & LogPosition)[], endpoints: readonly Subscriber[]): NewOutbound[] {
  const rows: NewOutbound[] = [];
  for (const event of events) {
    for (const name of deliveryNamesFor(event.type)) {
      for (const endpoint of endpoints) {
        if (!afterStart(event, endpoint) || !endpoint.events.includes(name)) continue;
        rows.push({
          producer: PRODUCER,
          endpointId: endpoint.id,
          eventId: event.id,
          messageId: messageIdFor(event.id, name),
          name,
          orderingKey: orderingKey(endpoint.id, event),
          url: endpoint.url,
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify(payloadFor(event, name, endpoint.app_code))),
          verifyTls: endpoint.verify_ssl,
          maxAttempts: MAX_ATTEMPTS,
        });
      }
    }
  }
  return rows;
}

export interface FanOutResult {
  events: number;
  deliveries: number;
  /** deliveries claimed (leased) for the caller to send at once */
  claimed: ClaimedRow[];
  /** no endpoint was enabled: the cursor skipped to the end of the log */
  noEndpoints: boolean;
  /** events committed past the cursor are not final yet: look again in a moment */
  waiting: boolean;
}

/**
 * Fans out one page of new events; reads nothing when another process holds
 * the cursor. With `claim`, the new deliveries that may go now are also
 * claimed in the same transaction, for the caller to send without waiting
 * for its next claim.
 */
export async function fanOut(ctx: Ctx, options: { pageSize?: number; claim?: ClaimSlots } = {}): Promise<FanOutResult> {
  const pageSize = options.pageSize ?? 1_000;
  return ctx.db.transaction(async (tx) => {
    // No rows: nothing new, nobody subscribed, or another process holds the cursor and is on it.
    const events = await tx.query<StoredEvent & LogPosition>(
      `select e.id, e.xid_bound, e.type, e.conversation_id, e.agent_id, e.data, e.created_at
         from events e
        where ${PAST('e', LOCKED_CURSOR('$1'))}
          and exists (select 1 from webhook_endpoints where enabled)
        order by ${LOG_ORDER('e')} limit $2`,
      [CURSOR, pageSize],
    );
    if (events.length === 0) {
      // With no endpoint enabled, skip to the end of the log without reading it. One
      // statement, one snapshot: an endpoint created after it starts past this max anyway.
      const skipped = await tx.query(
        `update outbox_cursors k set (last_xid_bound, last_event_id) = ${END_OF_LOG('k')}
          where name = (select name from outbox_cursors where name = $1 for update skip locked)
            and not exists (select 1 from webhook_endpoints where enabled)
          returning name`,
        [CURSOR],
      );
      const [{ waiting }] = (await tx.query<{ waiting: boolean }>(WAITING(CURSOR))) as [{ waiting: boolean }];
      return { events: 0, deliveries: 0, claimed: [], noEndpoints: skipped.length > 0, waiting };
    }
    const endpoints = await tx.query<Subscriber>(
      'select id, url, events, verify_ssl, app_code, since_xid_bound, since_event_id from webhook_endpoints where enabled',
    );
    const rows = deliveriesFor(events.map((event) => withFileLinks(ctx, event)), endpoints);
    const now = ctx.now();
    const ids = await enqueue(tx, rows, now);
    const last = events[events.length - 1]!;
    await tx.query(MOVE_CURSOR, [CURSOR, last.xid_bound, last.id]);
    const claimed = options.claim ? await claimNew(tx, ids, now, options.claim) : [];
    return { events: events.length, deliveries: rows.length, claimed, noEndpoints: false, waiting: false };
  }, { groupCommit: true }); // durable before anything is sent; the commit's NOTIFY lock is not held over the disk flush (0027)
}
