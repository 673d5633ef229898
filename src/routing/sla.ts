// First-response SLAs (issue #20, item 3). The policy is SQL's
// (sb_raise_sla_breach, sb_sweep_sla_breaches in src/routing/functions.sql):
// a conversation of a department with sla_first_response_s is due an agent
// reply by created_at + that target (sla_due_at, set at the open); the
// first agent message stops the clock; unanswered at the due time, it
// raises conversation.sla_breached once, from the sweep.
import type { Emit } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { routingCallIn } from './calls.js';

/** Breaches raised per call: the sweep calls again while a call fills its batch, so a backlog never makes one huge transaction step. */
export const SLA_BATCH = 200;

const SWEEP_SLA = /* sql */ `select l as logged, jsonb_array_length(l)::int as raised from sb_sweep_sla_breaches($1::timestamptz, $2::int) l`;

/**
 * Raises conversation.sla_breached for every open conversation whose first
 * response was due by `now` and not given. Inside the sweep's routing
 * transaction: the breach mark (sla_breached_at) and the event commit
 * together, so a restart neither loses nor repeats one.
 */
export async function raiseSlaBreaches(tx: Queryable, emit: Emit, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const [row] = await routingCallIn<{ raised: number }>(tx, emit, SWEEP_SLA, [now, SLA_BATCH], now);
    const raised = row?.raised ?? 0;
    total += raised;
    if (raised < SLA_BATCH) return total;
  }
}

/** The first agent message of a conversation stops its SLA clock (first_response_at); later ones change nothing. */
export async function recordFirstResponse(tx: Queryable, conversationId: string, at: Date): Promise<void> {
  await tx.query('update conversations set first_response_at = $2 where id = $1 and first_response_at is null', [conversationId, at]);
}
