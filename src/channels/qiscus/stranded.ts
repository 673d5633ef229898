import type { Ctx } from '../../context.js';
import type { OutboundRow } from '../../events/outbound/outbox.js';
import type { Producer, SettledAttempt } from '../../events/outbound/worker.js';
import { ASSIGN_AGENT, PRODUCER } from './constants.js';

// An assign_agent's last answer is recorded (RECORD) and then settled
// (producer.ts, settle): the room confirmed, requeued after a refusal, or
// given up. Two steps, two transactions: a process that dies between them,
// or a settle that fails (a lost connection, a deadlock), left the outcome
// recorded and the room as it was — a room Qiscus refused the agent for
// stayed assigned to them in Switchboard, holding their slot, with nobody in
// it in Qiscus and nothing to move it again. The poll settles such rooms
// again from what was recorded. A settle is safe to repeat: each change
// checks that the call is still the room's assignment (rooms.ts).

/** A recorded answer younger than this is left to its own settle, which follows it within milliseconds. */
export const STRANDED_AFTER_MS = 60_000;
/** rooms settled again a poll at most */
const BATCH = 100;

// Driven by the unconfirmed rooms (migration 0078), not by every open
// assignment. The excerpt is the recorded attempt's own: RECORD also logs a
// stale attempt (one whose lease ran out), whose answer may be another.
const STRANDED = /* sql */ `
  select o.*,
         (select a.response_excerpt from outbound_attempts a
           where a.request_id = o.id and a.started_at = o.last_attempt_at order by a.id desc limit 1) as excerpt
    from qiscus_rooms q
    join outbound_requests o on o.id = q.outbound_id
    join conversations c on c.id = q.conversation_id
   where q.confirmed_at is null and q.outbound_id is not null
     and c.state = 'assigned' and c.channel = 'qiscus'
     and o.producer = $3 and o.name = $4 and o.state in ('delivered', 'failed')
     and o.last_attempt_at < $1
   order by o.id
   limit $2`;

/** Settles again the assignments whose answer was recorded but not settled; returns how many it found. */
export async function settleStranded(ctx: Ctx, producer: Pick<Producer, 'settle'>): Promise<number> {
  const now = ctx.now();
  const rows = await ctx.db.query<OutboundRow & { excerpt: string | null }>(STRANDED, [new Date(now.getTime() - STRANDED_AFTER_MS), BATCH, PRODUCER, ASSIGN_AGENT]);
  if (rows.length === 0) return 0;
  const results: SettledAttempt[] = rows.map(({ excerpt, ...row }) => ({
    row,
    record: {
      id: row.id,
      attemptsBefore: row.attempts - 1,
      startedAt: new Date(row.last_attempt_at ?? now),
      durationMs: 0,
      status: row.last_status,
      excerpt,
      error: row.last_error,
      requestHeaders: {},
      outcome: row.state === 'delivered' ? 'delivered' : 'failed',
      nextAttemptAt: null,
    },
  }));
  // Each room on its own: one whose settle fails (and would again) holds back none of the others.
  let failure: unknown;
  for (const result of results) {
    try {
      await producer.settle?.(ctx, [result]);
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
  return rows.length;
}
