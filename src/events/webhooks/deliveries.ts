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
 * Sends a delivery's exact body again, as a new delivery with the same
 * webhook-id (receivers that deduplicate see one event), to the endpoint's
 * current URL. It is not held behind the conversation's other deliveries.
 */
export async function redeliver(ctx: Ctx, id: number): Promise<DeliveryView> {
  const [row] = await ctx.db.query<OutboundRow>('select * from outbound_requests where id = $1 and producer = $2', [id, PRODUCER]);
  if (!row) throw notFound('delivery', String(id));
  const original = normalizeRow(row);
  const endpoint = await getEndpoint(ctx.db, original.endpoint_id!);
  if (!endpoint.enabled) throw endpointDisabled(endpoint.id);
  const [newId] = await enqueue(
    ctx.db,
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
  nudge(ctx);
  return getDelivery(ctx.db, newId!);
}

/** Queues a `ping` to the endpoint, whatever events it subscribes to. */
export async function ping(ctx: Ctx, endpointId: string): Promise<DeliveryView> {
  const endpoint = await getEndpoint(ctx.db, endpointId);
  if (!endpoint.enabled) throw endpointDisabled(endpoint.id);
  const messageId = `ping_${randomUUID()}`;
  const [newId] = await enqueue(
    ctx.db,
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
  nudge(ctx);
  return getDelivery(ctx.db, newId!);
}
