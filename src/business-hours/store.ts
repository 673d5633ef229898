import type { Ctx } from '../context.js';
import { AppError } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { checkBusinessHours, type BusinessHours, type BusinessHoursInput } from './rules.js';

// The stored business hours: read by the availability route and the
// expected-wait estimate, replaced whole by an admin.

export const NO_HOURS: BusinessHours = { default: null, departments: {} };

/** The definition; no row yet is no schedule at all (always open). */
export async function readBusinessHours(db: Queryable): Promise<BusinessHours> {
  const [row] = await db.query<{ hours: BusinessHours }>('select hours from business_hours');
  return row?.hours ?? NO_HOURS;
}

/** 422: the definition is well-formed JSON of the right shape but says something impossible. */
export const scheduleInvalid = (field: string, message: string) => new AppError('SB_SCHEDULE_INVALID', `${field} ${message}`, 422, field);

/**
 * Replaces the definition, checked first (422 naming the field at fault,
 * nothing written). Recorded as a settings.changed event in the same
 * transaction, like the other runtime settings. No routing lock: routing
 * does not read business hours (agents online outside hours still get
 * conversations); only what customers are shown does.
 */
export async function replaceBusinessHours(ctx: Ctx, input: BusinessHoursInput, by: string | null): Promise<BusinessHours> {
  const checked = checkBusinessHours(input);
  if ('problem' in checked) throw scheduleInvalid(checked.problem.field, checked.problem.message);
  const { hours } = checked;
  return withEvents(ctx, async (tx, emit) => {
    await tx.query(
      `insert into business_hours (id, hours, updated_at, updated_by) values (true, $1::jsonb, $2, $3)
       on conflict (id) do update set hours = excluded.hours, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [JSON.stringify(hours), ctx.now(), by],
    );
    emit({ type: 'settings.changed', data: { changed: { business_hours: hours }, by } });
    return hours;
  });
}
