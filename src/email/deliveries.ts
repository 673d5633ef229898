import { attemptLogs, iso, type AttemptView } from '../events/outbound/attempt-log.js';
import type { OutboundRow, OutboundState } from '../events/outbound/outbox.js';
import type { Queryable } from '../store/db.js';
import { PRODUCER } from './outbox.js';
import { recipientsOf } from './transport.js';

// The email delivery log an admin reads: every email the outbox holds, newest
// first, with each SMTP attempt (the relay's reply code and text). The
// message itself is not shown: a transcript is the customer's conversation.

export interface EmailDeliveryView {
  id: number;
  kind: string;
  message_id: string;
  to: string[];
  subject: string;
  state: OutboundState;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  attempt_log: AttemptView[];
}

/**
 * What the log shows of a row, named: `select *` read every email's body
 * (a transcript, up to a megabyte and more) for a page that never shows one.
 */
const COLUMNS = 'id, name, message_id, url, headers, state, attempts, next_attempt_at, last_status, last_error, delivered_at, created_at';
type DeliveryRow = Pick<OutboundRow, 'id' | 'name' | 'message_id' | 'url' | 'headers' | 'state' | 'attempts' | 'next_attempt_at' | 'last_status' | 'last_error' | 'delivered_at' | 'created_at'>;

function toView(row: DeliveryRow, log: AttemptView[]): EmailDeliveryView {
  return {
    id: Number(row.id),
    kind: row.name,
    message_id: row.message_id,
    to: recipientsOf(row.url),
    subject: row.headers.subject ?? '',
    state: row.state,
    attempts: row.attempts,
    next_attempt_at: row.state === 'pending' ? iso(row.next_attempt_at) : null,
    last_status: row.last_status,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    created_at: iso(row.created_at)!,
    attempt_log: log,
  };
}

/** Newest first; page with before=<last id>. */
export async function listEmailDeliveries(db: Queryable, options: { before?: number; limit: number; state?: OutboundState }): Promise<EmailDeliveryView[]> {
  const rows = await db.query<DeliveryRow>(
    `select ${COLUMNS} from outbound_requests
      where producer = $1 and ($2::bigint is null or id < $2) and ($4::text is null or state = $4)
      order by id desc limit $3`,
    [PRODUCER, options.before ?? null, options.limit, options.state ?? null],
  );
  const logs = await attemptLogs(db, rows);
  return rows.map((row) => toView(row, logs.get(row.id) ?? []));
}
