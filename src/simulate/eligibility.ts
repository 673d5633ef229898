import type { OverflowRule } from '../routing/department-settings.js';

// Who may serve a conversation under the routing policies, as
// docs/routing.md defines it — written here from the documentation, apart
// from the engine's SQL (sb_agent_serves), so that the simulator's checks
// test the engine against the promise rather than against itself:
//
// - its department's agents, and those of each overflow step it has waited
//   `after_s` for (since queued_at);
// - with every required skill at its level, until `skills_relax_after_s`;
// - during a sticky wait only the customer's last agent;
// - never an agent who declined its offer or let it expire while it waits.

export interface PolicyConversation {
  index: number;
  priority: number;
  department: string | null;
  customerId?: string;
  /** virtual ms it last entered the queue */
  queuedMs: number;
  required: Readonly<Record<string, number>>;
  overflow: readonly OverflowRule[];
  relaxAfterS: number | null;
  agingPerMin: number;
  stickyAgentId: string | null;
  stickyUntilMs: number | null;
  declined: Set<string>;
}

export interface PolicyAgent {
  id: string;
  departments: readonly string[];
  skills: Readonly<Record<string, number>>;
}

/**
 * Whether agent `a` may serve `c`, room aside, with what waiting has
 * unlocked by `timeMs` (overflow, relaxed skills, a sticky wait's end). Every
 * clause only widens with time, so asking at an earlier moment (the last
 * sweep) never makes an agent eligible who is not eligible now.
 */
export function eligible(c: PolicyConversation, a: PolicyAgent, timeMs: number): boolean {
  if (c.declined.has(a.id)) return false;
  if (c.stickyUntilMs !== null && timeMs < c.stickyUntilMs && a.id !== c.stickyAgentId) return false;
  const waitedS = (timeMs - c.queuedMs) / 1000;
  const department =
    c.department === null || a.departments.includes(c.department) || c.overflow.some((step) => waitedS >= step.after_s && a.departments.includes(step.to));
  if (!department) return false;
  if (c.relaxAfterS !== null && waitedS >= c.relaxAfterS) return true;
  for (const [skill, level] of Object.entries(c.required)) if ((a.skills[skill] ?? 0) < level) return false;
  return true;
}

/** The queue's order at `nowMs`: effective priority (priority plus aging), then arrival. */
export function effectivePriority(c: PolicyConversation, nowMs: number): number {
  return c.priority + (c.agingPerMin * Math.max(0, nowMs - c.queuedMs)) / 60_000;
}

const TIE = 1e-6;

export function ahead(x: PolicyConversation, y: PolicyConversation, nowMs: number): boolean {
  const dx = effectivePriority(x, nowMs);
  const dy = effectivePriority(y, nowMs);
  return dx > dy + TIE || (Math.abs(dx - dy) <= TIE && x.index < y.index);
}
