// Per-department routing settings (issue #20). The defaults and their
// meaning live in SQL (sb_department_routing, src/store/migrations/routing/functions.sql),
// where the routing functions read them; this module reads the effective
// settings through that function and stores what an admin changed.
import { assertActorStill } from '../agents/agents.js';
import type { Ctx } from '../context.js';
import { invalid } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { assertNotChannelQueue } from './channel-queues.js';
import { drain } from './match.js';

export type RoutingMode = 'auto' | 'offer' | 'manual';

export interface OverflowRule {
  after_s: number;
  to: string;
}

export interface DepartmentRouting {
  mode: RoutingMode;
  sticky_window_s: number;
  sticky_wait_s: number;
  offer_timeout_s: number;
  offer_expiries_before_away: number;
  manual_order: 'in_order' | 'any';
  overflow: OverflowRule[];
  aging_per_min: number;
  sla_first_response_s: number | null;
  required_skills: Record<string, number>;
  skills_relax_after_s: number | null;
}

/** What a PUT may carry: any subset; fields left out keep their current value. */
export type DepartmentRoutingChange = Partial<DepartmentRouting>;

export async function readDepartmentRouting(db: Queryable, department: string | null): Promise<DepartmentRouting> {
  const [row] = await db.query<{ settings: DepartmentRouting }>('select sb_department_routing($1) as settings', [department]);
  return row!.settings;
}

/**
 * Meaning the schema cannot say: a department does not overflow to itself
 * or twice to the same department, and its overflow steps come in order of
 * time, so a chain reads as it runs.
 */
export function checkOverflow(department: string, rules: readonly OverflowRule[]): void {
  const seen = new Set<string>();
  rules.forEach((rule, i) => {
    if (rule.to === department) throw invalid(`overflow[${i}].to`, `must name another department than ${JSON.stringify(department)}`);
    // its agents are a channel's, who serve the channel's queue alone
    assertNotChannelQueue(`overflow[${i}].to`, rule.to);
    if (seen.has(rule.to)) throw invalid(`overflow[${i}].to`, `names ${JSON.stringify(rule.to)} twice`);
    seen.add(rule.to);
    const previous = rules[i - 1];
    if (previous !== undefined && rule.after_s < previous.after_s) throw invalid(`overflow[${i}].after_s`, 'must not be less than the step before it');
  });
}

/**
 * Lays `change` over the department's stored settings (a PUT sets the
 * fields it names and leaves the others, so changing the mode does not
 * reset the SLA) and returns the effective settings. A routing transaction:
 * the department's open conversations take the new skills and overflow
 * terms, and whatever they make eligible now is matched before the answer.
 */
export async function changeDepartmentRouting(ctx: Ctx, department: string, change: DepartmentRoutingChange, by: string | null): Promise<DepartmentRouting> {
  if (change.overflow !== undefined) checkOverflow(department, change.overflow);
  return withEvents(ctx, async (tx, emit) => {
    // an admin when the request came, and still one as it is written
    await assertActorStill(tx, by, ['admin']);
    await tx.query(
      `insert into department_routing (department, settings, updated_at, updated_by) values ($1, $2::jsonb, $3, $4)
       on conflict (department) do update
         set settings = department_routing.settings || excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [department, JSON.stringify(change), ctx.now(), by],
    );
    const settings = await readDepartmentRouting(tx, department);
    emit({ type: 'settings.changed', data: { changed: { department_routing: { department, settings } }, by } });
    await tx.query('select sb_refresh_department_terms($1)', [department]);
    await drain(tx, emit, ctx.now());
    return settings;
  }, { routing: true });
}
