// The allocation policy lives in SQL functions (src/store/migrations/routing/functions.sql, where it is
// documented): the routing operations call them in one round trip, and the
// remaining TS-driven routing transactions call the same matching steps, so
// there is one policy. These are the pieces other queries share.

/** Capacity of an agent row `a`: its own, or the global max_customers setting (sb_capacity, src/store/migrations/routing/functions.sql). */
export const CAPACITY_OF_A = /* sql */ `sb_capacity(a)`;

/**
 * Full drain step (sb_match_next): the first queued conversation that some
 * online agent with room can serve, given to the policy's pick; no row when
 * nothing can be matched. $1 now.
 */
export const MATCH_NEXT = /* sql */ `select * from sb_match_next($1::timestamptz)`;

/** An agent who just gained room takes the first queued conversation they can serve (sb_match_for_agent). $1 now, $2 agent. */
export const MATCH_FOR_AGENT = /* sql */ `select * from sb_match_for_agent($1::timestamptz, $2::uuid)`;

