import { randomUUID } from 'node:crypto';
import type { Ctx } from '../../context.js';
import { notFound } from '../../errors.js';
import type { Queryable } from '../../store/db.js';
import { attemptLogs, iso, type AttemptView } from '../outbound/attempt-log.js';
import { enqueue, normalizeRow, type OutboundRow, type OutboundState } from '../outbound/outbox.js';
import { MAX_ATTEMPTS } from '../outbound/retry.js';
import { getEndpoint } from './endpoints.js';
import { endpointDisabled } from './errors.js';
import { PRODUCER } from './fanout.js';
import { pingPayload } from './payloads.js';

// The delivery log an admin reads, and the two ways to send by hand: a ping
// and a redelivery. Both go through the outbox like any event.

export interface DeliveryView {
  id: number;
  webhook_id: string | null;
  event_id: number | null;
  message_id: string;
  event: string;
  url: string;
  state: OutboundState;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  redelivery_of: number | null;
  created_at: string;
  payload: unknown;
  attempt_log: AttemptView[];
}

function toDelivery(row: OutboundRow, attempts: AttemptView[]): DeliveryView {
  let payload: unknown;
  try {
    payload = JSON.parse(row.body.toString('utf8'));
  } catch {
    payload = row.body.toString('base64');
  }
  return {
    id: row.id,
    webhook_id: row.endpoint_id,
    event_id: row.event_id,
    message_id: row.message_id,
    event: row.name,
    url: row.url,
    state: row.state,
    attempts: row.attempts,
    next_attempt_at: row.state === 'pending' ? iso(row.next_attempt_at) : null,
    last_status: row.last_status,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    redelivery_of: row.redelivery_of,
    created_at: iso(row.created_at)!,
    payload,
    attempt_log: attempts,
  };
}

async function withAttempts(db: Queryable, rows: OutboundRow[]): Promise<DeliveryView[]> {
  const logs = await attemptLogs(db, rows);
  return rows.map((row) => toDelivery(row, logs.get(row.id) ?? []));
}

/** Newest first; page with before=<last id>. */
export async function listDeliveries(db: Queryable, endpointId: string, options: { before?: number; limit: number; state?: string }): Promise<DeliveryView[]> {
  await getEndpoint(db, endpointId);
  const rows = await db.query<OutboundRow>(
    `select * from outbound_requests
      where endpoint_id = $1 and ($2::bigint is null or id < $2) and ($4::text is null or state = $4)
      order by id desc limit $3`,
    [endpointId, options.before ?? null, options.limit, options.state ?? null],
  );
  return withAttempts(db, rows.map(normalizeRow));
}

export async function getDelivery(db: Queryable, id: number): Promise<DeliveryView> {
  const [row] = await db.query<OutboundRow>('select * from outbound_requests where id = $1 and producer = $2', [id, PRODUCER]);
  if (!row) throw notFound('delivery', String(id));
  const [view] = await withAttempts(db, [normalizeRow(row)]);
  return view!;
}

/** Wakes the delivery worker now rather than at its next poll: it listens to onCommitted. */
const nudge = (ctx: Ctx) => ctx.onCommitted?.([]);

/**
 * The endpoint, locked against a change until this transaction commits: a
 * disable (or a new URL) then waits for the row queued here and cancels (or
 * re-aims) it with the others; read unlocked, a redelivery or ping queued
 * as the endpoint was disabled stayed pending for it, and went (found by
 * review). Taken after the event's lock (redeliver), as nothing takes them
 * the other way round.
 */
async function enabledEndpoint(tx: Queryable, id: string) {
  const endpoint = await getEndpoint(tx, id, { forShare: true });
  if (!endpoint.enabled) throw endpointDisabled(endpoint.id);
  return endpoint;
}

/**
 * Sends a delivery's exact body again, as a new delivery with the same
 * webhook-id (receivers that deduplicate see one event), to the endpoint's
 * current URL. It is not held behind the conversation's other deliveries.
 *
 * The event's row is locked (FOR SHARE) before the body is read: an erasure
 * of its conversation (src/erasure/erase.ts) locks its events first, so it
 * either has committed, and the body read here is the redacted one, or
 * waits for this copy to commit and then finds it with the other
 * deliveries of those events and redacts it. Copied unlocked, a redelivery
 * racing an erasure sent the erased words (found by review).
 */
export async function redeliver(ctx: Ctx, id: number): Promise<DeliveryView> {
  const newId = await ctx.db.transaction(async (tx) => {
    const [event] = await tx.query<{ event_id: number | null }>('select event_id from outbound_requests where id = $1 and producer = $2', [id, PRODUCER]);
    if (!event) throw notFound('delivery', String(id));
    if (event.event_id !== null) await tx.query('select 1 from events where id = $1 for share', [event.event_id]);
    const [row] = await tx.query<OutboundRow & { erased: boolean }>('select * from outbound_requests where id = $1 and producer = $2', [id, PRODUCER]);
    if (!row) throw notFound('delivery', String(id));
    const original = normalizeRow(row);
    const endpoint = await enabledEndpoint(tx, original.endpoint_id!);
    const [queued] = await enqueue(
      tx,
      [
        {
          producer: PRODUCER,
          endpointId: endpoint.id,
          eventId: original.event_id,
          messageId: original.message_id,
          name: original.name,
          url: endpoint.url,
          headers: original.headers,
          body: original.body,
          verifyTls: endpoint.verify_ssl,
          maxAttempts: MAX_ATTEMPTS,
          redeliveryOf: original.redelivery_of ?? original.id,
        },
      ],
      ctx.now(),
    );
    // a copy of an erased conversation's delivery is one of its requests: its replies are not kept either (migration 0085)
    if (row.erased) await tx.query('update outbound_requests set erased = true where id = $1', [queued]);
    return queued!;
  });
  nudge(ctx);
  return getDelivery(ctx.db, newId);
}

/** Queues a `ping` to the endpoint, whatever events it subscribes to. */
export async function ping(ctx: Ctx, endpointId: string): Promise<DeliveryView> {
  const messageId = `ping_${randomUUID()}`;
  const newId = await ctx.db.transaction(async (tx) => {
    const endpoint = await enabledEndpoint(tx, endpointId);
    const [queued] = await enqueue(
      tx,
      [
        {
          producer: PRODUCER,
          endpointId: endpoint.id,
          messageId,
          name: 'ping',
          url: endpoint.url,
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify(pingPayload(messageId, endpoint.id, ctx.now(), endpoint.app_code))),
          verifyTls: endpoint.verify_ssl,
          maxAttempts: MAX_ATTEMPTS,
        },
      ],
      ctx.now(),
    );
    return queued!;
  });
  nudge(ctx);
  return getDelivery(ctx.db, newId);
}
