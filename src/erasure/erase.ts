import type { Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { OPEN_STATES, type ConversationState } from '../conversations/model.js';
import { conflict, notFound } from '../errors.js';
import { withEvents, type StoredEvent } from '../events/outbox.js';
import { CURSOR as WEBHOOK_CURSOR, PRODUCER as WEBHOOK_PRODUCER } from '../events/webhooks/fanout.js';
import { payloadFor } from '../events/webhooks/payloads.js';
import type { SubscribableEvent } from '../events/webhooks/catalog.js';
import type { Queryable } from '../store/db.js';
import { redact } from './redact.js';

// Erasing a conversation (GDPR's right to erasure): every row that holds
// what the customer said or who they are goes, in one transaction, and the
// conversation's events stay in the log with those fields redacted
// (./redact.ts). Files in an S3 bucket are queued for removal by the
// attachments trigger (migration 0020) in this same transaction and removed
// after commit by the file sweeper (src/files/deletions.ts), with retries.

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

export async function eraseConversation(ctx: Ctx, id: string, actor: Actor): Promise<Erasure> {
  return withEvents(ctx, async (tx, emit) => {
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
    await tx.query('delete from messages where conversation_id = $1', [id]);
    const attachments = await count(tx, 'delete from attachments where conversation_id = $1', id);
    const ratings = await count(tx, 'delete from ratings where conversation_id = $1', id);
    for (const table of ['conversation_reads', 'customer_sessions', 'qiscus_rooms', 'rapidpro_tickets']) {
      await tx.query(`delete from ${table} where conversation_id = $1`, [id]);
    }
    // A fan-out running now read the events before this redaction: wait for
    // it to commit so its deliveries are rewritten below; one starting later
    // skips its turn (its cursor is locked) and then reads redacted events.
    await tx.query('select 1 from outbox_cursors where name = $1 for update', [WEBHOOK_CURSOR]);
    const events = await redactEvents(tx, id);
    const deliveries = await redactWebhookDeliveries(tx, events);
    await tx.query('delete from conversations where id = $1', [id]);
    const erasure: Erasure = {
      conversation_id: id,
      messages: kinds!.messages,
      notes: kinds!.notes,
      attachments,
      ratings,
      events_redacted: events.length,
      deliveries_redacted: deliveries,
    };
    emit({ type: 'conversation.erased', conversationId: id, agentId: row.agent_id, data: { ...erasure, by: actor.id } });
    return erasure;
  });
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

/**
 * The webhook deliveries made from those events keep their bodies (the
 * delivery log, redeliveries, the retries still pending), so each is rebuilt
 * from its redacted event exactly as the fan-out built it: a receiver asking
 * for a redelivery, or getting a late retry, gets the redacted payload.
 */
async function redactWebhookDeliveries(tx: Queryable, events: readonly StoredEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const byId = new Map(events.map((e) => [e.id, e]));
  const rows = await tx.query<{ id: number; event_id: number; name: string; app_code: string | null }>(
    `select r.id, r.event_id, r.name, w.app_code
       from outbound_requests r join webhook_endpoints w on w.id = r.endpoint_id
      where r.event_id = any ($1::bigint[]) and r.producer = $2`,
    [[...byId.keys()], WEBHOOK_PRODUCER],
  );
  if (rows.length === 0) return 0;
  const bodies = rows.map((r) => Buffer.from(JSON.stringify(payloadFor(byId.get(Number(r.event_id))!, r.name as SubscribableEvent, r.app_code))));
  await tx.query('update outbound_requests set body = r.body from unnest($1::bigint[], $2::bytea[]) as r(id, body) where outbound_requests.id = r.id', [
    rows.map((r) => r.id),
    bodies,
  ]);
  return rows.length;
}
