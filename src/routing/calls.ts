// The TS side of the routing functions (src/store/migrations/routing/functions.sql): each routing change
// is one call into PostgreSQL, which takes the routing lock, decides, writes
// and appends its events (so is a chat message, sb_add_message, without the
// routing lock). What comes back is the rows the caller answers
// with and the events, as the log holds them, for the listeners.
import type { Ctx } from '../context.js';
import type { Emit, StoredEvent } from '../events/event.js';
import type { Queryable } from '../store/db.js';

/** An event as a routing function returns it (sb_log_events). */
interface LoggedEvent {
  id: number;
  type: string;
  conversation_id: string | null;
  agent_id: string | null;
  data: Record<string, unknown>;
}

/** Every routing function's result row carries its events in `logged`. */
export type Logged<Row> = Row & { logged: LoggedEvent[] | null };

function stored(events: readonly LoggedEvent[] | null, at: Date): StoredEvent[] {
  return (events ?? []).map((e) => ({
    id: Number(e.id),
    type: e.type,
    conversation_id: e.conversation_id,
    agent_id: e.agent_id,
    data: e.data,
    created_at: at,
  }));
}

function withoutEvents<Row>(rows: readonly Logged<Row>[]): Row[] {
  return rows.map(({ logged: _, ...row }) => row as Row);
}

/** A call's rows, and its events as the listeners get them. */
interface Called<Row> {
  rows: Row[];
  events: StoredEvent[];
}

function called<Row>(rows: readonly Logged<Row>[], now: Date): Called<Row> {
  return { rows: withoutEvents(rows), events: rows.flatMap((r) => stored(r.logged, now)) };
}

/**
 * Runs routing function call `text` as a transaction of its own (one round
 * trip) and hands its events to the context's listeners once committed.
 * `now` is the time the call was given: the events' created_at.
 */
export async function routingCall<Row>(ctx: Ctx, text: string, params: readonly unknown[], now: Date): Promise<Row[]> {
  return committed<Row>(ctx, await ctx.db.transactOne<Logged<Row>>(text, params), now);
}

/**
 * The rows of a routing call the caller sent itself, committed (e.g. with a
 * statement after its commit: Db.transactOneThen); its events go to the
 * context's listeners as routingCall's do.
 */
export function committed<Row>(ctx: Ctx, rows: readonly Logged<Row>[], now: Date): Row[] {
  const result = called(rows, now);
  if (result.events.length > 0) ctx.onCommitted?.(result.events);
  return result.rows;
}

/**
 * The same call inside a transaction the caller holds (withEvents): its
 * events are already in the log; the listeners get them after the commit.
 */
export async function routingCallIn<Row>(tx: Queryable, emit: Emit, text: string, params: readonly unknown[], now: Date): Promise<Row[]> {
  const result = called(await tx.query<Logged<Row>>(text, params), now);
  if (result.events.length > 0) emit.logged?.(result.events);
  return result.rows;
}
