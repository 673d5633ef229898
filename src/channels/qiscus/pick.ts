import type { AvailableAgent } from './client.js';

/** A Qiscus agent as the allocator sees it inside the routing transaction. */
export interface MirrorLoad {
  /** engine agent id */
  id: string;
  qiscusId: string;
  /** open conversations Switchboard assigned to them (the engine's load counter) */
  load: number;
  capacity: number;
  lastAssignedAt: number | null;
  /** `load` as the decision read it: what it has added since (rooms given, slots kept) Qiscus' count cannot include */
  readLoad: number;
}

/**
 * The policy's choice for one room: least effective load, ties to the one
 * idle longest, then by id. Effective load is the larger of what Qiscus
 * reports (it lags behind assignments just made, this decision's first of all) and what Switchboard holds
 * open for them (it misses rooms given by hand in Qiscus). `avoid` (the agent
 * Qiscus just refused to put in this room) is chosen only when nobody else
 * has room: the refusal was most likely about them. `reserve` slots of each
 * agent are not given (kept for older rooms another pass is still fetching).
 */
export function pickAgent(
  offered: readonly AvailableAgent[],
  mirrors: ReadonlyMap<string, MirrorLoad>,
  excluded: string | undefined,
  avoid?: string | null,
  reserve = 0,
): MirrorLoad | undefined {
  let best: { mirror: MirrorLoad; effective: number } | undefined;
  let fallback: MirrorLoad | undefined;
  for (const agent of offered) {
    if (!agent.is_available || agent.force_offline || agent.id === excluded) continue;
    const mirror = mirrors.get(agent.id);
    if (!mirror) continue;
    // Qiscus' count plus this decision's own picks: with rooms given by hand in Qiscus (count 3, load 0,
    // capacity 4) the count alone let one pass give four more (found by review)
    const effective = Math.max(agent.current_customer_count + mirror.load - mirror.readLoad, mirror.load);
    if (effective + reserve >= mirror.capacity) continue;
    if (agent.id === avoid) fallback = mirror;
    else if (!best || better({ mirror, effective }, best)) best = { mirror, effective };
  }
  return best?.mirror ?? fallback;
}

function better(a: { mirror: MirrorLoad; effective: number }, b: { mirror: MirrorLoad; effective: number }): boolean {
  if (a.effective !== b.effective) return a.effective < b.effective;
  const at = a.mirror.lastAssignedAt ?? -Infinity;
  const bt = b.mirror.lastAssignedAt ?? -Infinity;
  if (at !== bt) return at < bt;
  return a.mirror.id < b.mirror.id;
}
