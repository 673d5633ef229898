import { attemptLogs, iso, type AttemptView } from '../../events/outbound/attempt-log.js';
import { normalizeRow, type OutboundRow, type OutboundState } from '../../events/outbound/outbox.js';
import type { Queryable } from '../../store/db.js';
import { getTicketer } from './ticketers.js';

// A ticketer's callbacks as an admin reads them: each request, where it
// stands, and every attempt with the answer mailroom gave.

export interface CallbackView {
  id: number;
  type: string;
  ticket_id: string;
  event_id: number | null;
  url: string;
  state: OutboundState;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  payload: unknown;
  attempt_log: AttemptView[];
}

function toView(row: OutboundRow & { ticket_id: string }, attempts: AttemptView[]): CallbackView {
  return {
    id: row.id,
    type: row.name,
    ticket_id: row.ticket_id,
    event_id: row.event_id,
    url: row.url,
    state: row.state,
    attempts: row.attempts,
    next_attempt_at: row.state === 'pending' ? iso(row.next_attempt_at) : null,
    last_status: row.last_status,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    created_at: iso(row.created_at)!,
    // The request headers are not shown: they carry the secret.
    payload: JSON.parse(row.body.toString('utf8')) as unknown,
    attempt_log: attempts,
  };
}

/** Newest first; page with before=<last id>. */
export async function listCallbacks(
  db: Queryable,
  ticketerUuid: string,
  options: { before?: number; limit: number; state?: OutboundState; ticket?: string },
): Promise<CallbackView[]> {
  await getTicketer(db, ticketerUuid);
  const rows = await db.query<OutboundRow & { ticket_id: string }>(
    `select o.*, l.ticket_id from rapidpro_callbacks l join outbound_requests o on o.id = l.request_id
      where l.ticketer_uuid = $1 and ($2::bigint is null or l.request_id < $2)
        and ($4::text is null or o.state = $4) and ($5::text is null or l.ticket_id = $5)
      order by l.request_id desc limit $3`,
    [ticketerUuid, options.before ?? null, options.limit, options.state ?? null, options.ticket ?? null],
  );
  const logs = await attemptLogs(db, rows);
  return rows.map((row) => toView({ ...normalizeRow(row), ticket_id: row.ticket_id }, logs.get(row.id) ?? []));
}
