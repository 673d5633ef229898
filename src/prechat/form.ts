import type { Ctx } from '../context.js';
import { invalid } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { checkDefinition, type PrechatField } from './rules.js';

// The stored pre-chat form: read by the widget (before a session) and by
// POST /session, replaced whole by an admin.

export interface PrechatForm {
  fields: PrechatField[];
}

/** The form as defined; no row yet is the empty form (the widget asks only name and email, as before). */
export async function readForm(db: Queryable): Promise<PrechatForm> {
  const [row] = await db.query<{ fields: PrechatField[] }>('select fields from prechat_form');
  return { fields: row?.fields ?? [] };
}

/** A field as sent (optional parts left out) with every part spelled out, so the stored form is uniform. */
export type FieldInput = Pick<PrechatField, 'key' | 'label' | 'type'> & Partial<Pick<PrechatField, 'required' | 'max_length' | 'pattern' | 'options'>>;

export function normalise(input: FieldInput): PrechatField {
  return {
    key: input.key,
    label: input.label.trim(),
    type: input.type,
    required: input.required ?? false,
    max_length: input.max_length ?? null,
    pattern: input.pattern ?? null,
    options: input.options ?? [],
  };
}

/**
 * Replaces the form, checked first (400 naming the field at fault, nothing
 * written). Recorded as a settings.changed event, like the other runtime
 * settings, in the same transaction.
 */
export async function replaceForm(ctx: Ctx, inputs: readonly FieldInput[], by: string | null): Promise<PrechatForm> {
  const fields = inputs.map(normalise);
  const problem = checkDefinition(fields);
  if (problem) throw invalid(problem.field, problem.message);
  return withEvents(ctx, async (tx, emit) => {
    await tx.query(
      `insert into prechat_form (id, fields, updated_at, updated_by) values (true, $1::jsonb, $2, $3)
       on conflict (id) do update set fields = excluded.fields, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [JSON.stringify(fields), ctx.now(), by],
    );
    emit({ type: 'settings.changed', data: { changed: { prechat_form: { fields } }, by } });
    return { fields };
  });
}
