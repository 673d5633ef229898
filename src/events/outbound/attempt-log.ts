import type { Queryable } from '../../store/db.js';
import type { OutboundRow } from './outbox.js';

// Every outbound request's attempts as an admin reads them (webhook
// deliveries, RapidPro callbacks): when, what came back, how long it took.

export interface AttemptView {
  attempt: number;
  at: string;
  status: number | null;
  duration_ms: number;
  response_excerpt: string | null;
  error: string | null;
}

interface AttemptRow {
  request_id: number;
  attempt: number;
  started_at: Date;
  status: number | null;
  duration_ms: number;
  response_excerpt: string | null;
  error: string | null;
}

export const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

/** The attempts of each request, in order, read in one query. */
export async function attemptLogs(db: Queryable, rows: readonly Pick<OutboundRow, 'id'>[]): Promise<Map<number, AttemptView[]>> {
  const logs = new Map<number, AttemptView[]>(rows.map((r) => [r.id, []]));
  if (rows.length === 0) return logs;
  const attempts = await db.query<AttemptRow>(
    `select request_id, attempt, started_at, status, duration_ms, response_excerpt, error
       from outbound_attempts where request_id = any($1::bigint[]) order by id`,
    [rows.map((r) => r.id)],
  );
  for (const a of attempts) {
    logs.get(Number(a.request_id))?.push({
      attempt: a.attempt,
      at: iso(a.started_at)!,
      status: a.status,
      duration_ms: a.duration_ms,
      response_excerpt: a.response_excerpt,
      error: a.error,
    });
  }
  return logs;
}
