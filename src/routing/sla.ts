// First-response SLAs (issue #20, item 3). The policy is SQL's
// (sb_raise_sla_breach, sb_sweep_sla_breaches in src/store/migrations/routing/functions.sql):
// a conversation of a department with sla_first_response_s is due an agent
// reply by created_at + that target (sla_due_at, set at the open); the
// first agent message stops the clock; unanswered at the due time, it
// raises conversation.sla_breached once, from the sweep.
import type { Queryable } from '../store/db.js';

/** Breaches raised per sb_sweep_sla_breaches call: sb_sweep_step calls again while a call fills its batch, so a backlog is raised in bounded steps. */
export const SLA_BATCH = 200;

/**
 * The first agent message of a conversation stops its SLA clock
 * (first_response_at); later ones change nothing. A stored message does this
 * in its own call (sb_add_message); the simulator, which stores none, here.
 */
export async function recordFirstResponse(tx: Queryable, conversationId: string, at: Date): Promise<void> {
  await tx.query('update conversations set first_response_at = $2 where id = $1 and first_response_at is null', [conversationId, at]);
}
