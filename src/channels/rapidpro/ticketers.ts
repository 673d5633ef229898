import { randomUUID } from 'node:crypto';
import { SYSTEM } from '../../agents/model.js';
import type { Ctx } from '../../context.js';
import { closeConversationIn } from '../../conversations/lifecycle.js';
import { withEvents } from '../../events/outbox.js';
import type { Queryable } from '../../store/db.js';
import { unknownTicketer } from './errors.js';
import { generateSecret } from './secret.js';
import { UUID } from '../../uuid.js';

// Ticketers: one per connected RapidPro workspace. RapidPro knows a ticketer
// by its base URL (which ends with the UUID) and the shared secret.

export interface TicketerRow {
  uuid: string;
  name: string | null;
  secret: string;
  callback_url: string | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface Ticketer {
  uuid: string;
  name: string | null;
  base_url: string;
  secret: string;
  callback_url: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * Why a conversation closed, where RapidPro's callbacks must not send the
 * close-room every other close sends. (A room a new ticket for the same
 * contact replaced closes with 'replaced', written by sb_open_room in SQL;
 * RapidPro is told, as for any close, so TypeScript never names it.)
 */
export const CLOSE_REASONS = {
  /** room.close: RapidPro closed the ticket itself, so no close-room goes back */
  byRapidPro: 'rapidpro',
  /** the ticketer was deleted: there is no one left to tell */
  ticketerDeleted: 'ticketer_deleted',
} as const;

export const basePath = (uuid: string) => `/api/v1/ticketers/${uuid}`;

export function toTicketer(row: TicketerRow, origin: string): Ticketer {
  return {
    uuid: row.uuid,
    name: row.name,
    base_url: `${origin}${basePath(row.uuid)}`,
    secret: row.secret,
    callback_url: row.callback_url,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}


/** The ticketer, or undefined; an id that is not a UUID names no ticketer rather than being an error. */
export async function findTicketer(db: Queryable, uuid: string): Promise<TicketerRow | undefined> {
  if (!UUID.test(uuid)) return undefined;
  const [row] = await db.query<TicketerRow>('select * from rapidpro_ticketers where uuid = $1', [uuid]);
  return row;
}

export async function getTicketer(db: Queryable, uuid: string): Promise<TicketerRow> {
  const row = await findTicketer(db, uuid);
  if (!row) throw unknownTicketer(uuid);
  return row;
}

export async function listTicketers(db: Queryable): Promise<TicketerRow[]> {
  return db.query<TicketerRow>('select * from rapidpro_ticketers order by created_at, uuid');
}

export async function createTicketer(ctx: Ctx, input: { name?: string | null; secret?: string }, createdBy: string | null): Promise<TicketerRow> {
  const now = ctx.now();
  const [row] = await ctx.db.query<TicketerRow>(
    `insert into rapidpro_ticketers (uuid, name, secret, created_by, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $5) returning *`,
    [randomUUID(), input.name ?? null, input.secret ?? generateSecret(), createdBy, now],
  );
  return row!;
}

/**
 * Name and secret; the secret is set when RapidPro's connect form shows one
 * to copy. A secret set brings the waiting callbacks forward, as a new
 * callback URL does: mailroom refused them (401) for the secret, and their
 * next attempt may be hours away. One in flight keeps its lease.
 */
export async function updateTicketer(ctx: Ctx, uuid: string, input: { name?: string | null; secret?: string }): Promise<TicketerRow> {
  await getTicketer(ctx.db, uuid);
  const now = ctx.now();
  const rekeyed = input.secret !== undefined;
  const row = await ctx.db.transaction(async (tx) => {
    const [row] = await tx.query<TicketerRow>(
      `update rapidpro_ticketers
          set name = case when $2 then $3 else name end, secret = coalesce($4, secret), updated_at = $5
        where uuid = $1 returning *`,
      [uuid, input.name !== undefined, input.name ?? null, input.secret ?? null, now],
    );
    if (!row) throw unknownTicketer(uuid);
    if (rekeyed) await tx.query(`update outbound_requests o set ${DUE_NOW} where o.id in (${CALLBACKS_PENDING})`, [uuid, now]);
    return row;
  });
  // wakes the outbound worker, which listens to commits
  if (rekeyed) ctx.onCommitted?.([]);
  return row;
}

/** A waiting callback due now ($2), unless an attempt holds its lease (leased_until, migration 0079). */
const DUE_NOW = /* sql */ `next_attempt_at = case when o.leased_until > $2 then o.next_attempt_at else least(o.next_attempt_at, $2) end`;

/**
 * Stores the URL RapidPro wants its callbacks at. Callbacks still waiting
 * (RapidPro moved, or had not connected yet) follow the new URL and are due
 * at once: the reason they failed may be gone. A callback in flight keeps
 * its lease (leased_until, migration 0079): due now, another claim would
 * send it to the new URL beside its attempt, whose record would then change
 * nothing. Should that attempt fail, its retry is due at once, at the new
 * URL (RECORD compares the URL the attempt went to).
 */
export async function setCallbackUrl(ctx: Ctx, uuid: string, url: string): Promise<void> {
  const now = ctx.now();
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx.query('update rapidpro_ticketers set callback_url = $2, updated_at = $3 where uuid = $1 returning uuid', [uuid, url, now]);
    if (!row) throw unknownTicketer(uuid);
    await tx.query(`update outbound_requests o set url = $3, ${DUE_NOW} where o.id in (${CALLBACKS_PENDING})`, [uuid, now, url]);
  });
  // wakes the outbound worker, which listens to commits
  ctx.onCommitted?.([]);
}

/**
 * The ticketer's ($1) callbacks still waiting, locked in id order: the order
 * every statement locking several outbound rows takes them in (RECORD,
 * src/events/outbound/outbox.ts), so none waits for another holding a row it
 * took out of turn.
 */
const CALLBACKS_PENDING = /* sql */ `
  select p.id from outbound_requests p join rapidpro_callbacks l on l.request_id = p.id
   where l.ticketer_uuid = $1 and p.state = 'pending'
   order by p.id
     for update of p`;

/**
 * Deletes a ticketer. Its open conversations are abandoned (nothing could
 * reach the contact any more) and its waiting callbacks cancelled, in the
 * same transaction, so no agent is left answering into the void.
 * The routing lock stays exclusive from BEGIN (issue #22): several closes in
 * one transaction, the first may take it shared and a later one need it
 * exclusive (an upgrade, which can deadlock); an admin's rare act.
 */
export async function deleteTicketer(ctx: Ctx, uuid: string): Promise<void> {
  await withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      const [ticketer] = await tx.query('select uuid from rapidpro_ticketers where uuid = $1 for update', [uuid]);
      if (!ticketer) throw unknownTicketer(uuid);
      const open = await tx.query<{ id: string }>(
        `select c.id from rapidpro_tickets t join conversations c on c.id = t.conversation_id
          where t.ticketer_uuid = $1 and c.state in ('queued', 'offered', 'assigned') order by c.seq`,
        [uuid],
      );
      for (const { id } of open) {
        await closeConversationIn(tx, emit, now, id, { state: 'abandoned', reason: CLOSE_REASONS.ticketerDeleted }, SYSTEM);
      }
      await tx.query(
        `update outbound_requests o set state = 'cancelled', last_error = 'the ticketer was deleted'
          where o.id in (${CALLBACKS_PENDING})`,
        [uuid],
      );
      await tx.query('delete from rapidpro_ticketers where uuid = $1', [uuid]);
    },
    { routing: true },
  );
}
