import type { Ctx } from '../context.js';
import { AppError, conflict, invalid, notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import type { Queryable } from '../store/db.js';

// The label catalogue (admins manage it). A conversation's labels are names
// in conversations.labels (migration 0023); renaming or deleting a label
// rewrites them in the same transaction, holding the label row, which
// PUT /conversations/:id/labels shares while it checks the names.
// A label may require skills (docs/routing.md#skills): the open
// conversations carrying it need them too, so a change of a label's skills,
// and a delete, are routing transactions (the routing lock first, then the
// label, then the conversations, as PUT /conversations/:id/labels takes
// them). A rename or recolour changes no requirement and takes no routing lock.

export interface LabelRow {
  id: string;
  name: string;
  color: string;
  required_skills: Record<string, number>;
  created_at: Date;
  updated_at: Date;
}

export interface Label {
  id: string;
  name: string;
  color: string;
  required_skills: Record<string, number>;
  created_at: string;
  updated_at: string;
}

export const toLabel = (row: LabelRow): Label => ({
  id: row.id,
  name: row.name,
  color: row.color,
  required_skills: row.required_skills,
  created_at: new Date(row.created_at).toISOString(),
  updated_at: new Date(row.updated_at).toISOString(),
});

const UNIQUE_VIOLATION = '23505';

const nameTaken = (name: string) => conflict('SB_LABEL_EXISTS', `a label named ${JSON.stringify(name)} already exists (names are unique whatever their case)`);

/**
 * A name is what agents type in `label=` and what the trace export joins with
 * ";": no separators, no control characters, no blanks at either end.
 */
export function assertLabelName(name: string, field = 'name'): void {
  if (name.trim() !== name || name.length === 0) throw invalid(field, 'must not start or end with blanks');
  if (/[,;\u0000-\u001f\u007f]/.test(name)) throw invalid(field, `must not hold commas, semicolons or control characters, got ${JSON.stringify(name)}`);
}

export async function listLabels(db: Queryable): Promise<LabelRow[]> {
  return db.query<LabelRow>('select * from labels order by lower(name)');
}

export async function createLabel(ctx: Ctx, input: { name: string; color: string; required_skills?: Record<string, number> }): Promise<LabelRow> {
  assertLabelName(input.name);
  return withEvents(ctx, async (tx, emit) => {
    const now = ctx.now();
    // a concurrent create of the same name loses here, with the same 409
    const [row] = await tx.query<LabelRow>(
      `insert into labels (name, color, required_skills, created_at, updated_at) values ($1, $2, $3::jsonb, $4, $4) on conflict do nothing returning *`,
      [input.name, input.color.toLowerCase(), JSON.stringify(input.required_skills ?? {}), now],
    );
    if (!row) throw nameTaken(input.name);
    emit({ type: 'label.created', data: { label: toLabel(row) } });
    return row;
  });
}

/**
 * A rename rewrites the name on every conversation that carries it; conversations keep their updated_at.
 * New required skills apply to the open conversations carrying the label at once, and whatever a smaller
 * requirement lets an agent with room serve is matched before the answer.
 */
export async function updateLabel(ctx: Ctx, id: string, patch: { name?: string; color?: string; required_skills?: Record<string, number> }): Promise<LabelRow> {
  if (patch.name !== undefined) assertLabelName(patch.name);
  try {
    return await withEvents(ctx, async (tx, emit) => {
      const [old] = await tx.query<LabelRow>('select * from labels where id = $1 for update', [id]);
      if (!old) throw notFound('label', id);
      const [row] = await tx.query<LabelRow>(
        'update labels set name = coalesce($2, name), color = coalesce($3, color), required_skills = coalesce($4::jsonb, required_skills), updated_at = $5 where id = $1 returning *',
        [id, patch.name ?? null, patch.color?.toLowerCase() ?? null, patch.required_skills ? JSON.stringify(patch.required_skills) : null, ctx.now()],
      );
      if (row!.name !== old.name) {
        await tx.query('update conversations set labels = array_replace(labels, $1, $2) where labels @> array[$1]', [old.name, row!.name]);
      }
      emit({ type: 'label.updated', data: { label: toLabel(row!), previous_name: old.name } });
      if (patch.required_skills !== undefined) {
        await tx.query('select sb_refresh_label_terms($1)', [row!.name]);
        await drain(tx, emit, ctx.now());
      }
      return row!;
    }, { routing: patch.required_skills !== undefined });
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw nameTaken(patch.name ?? '');
    throw error;
  }
}

/** Deleting a label takes it off every conversation, in the same transaction. */
export async function deleteLabel(ctx: Ctx, id: string): Promise<void> {
  await withEvents(ctx, async (tx, emit) => {
    const [row] = await tx.query<LabelRow>('delete from labels where id = $1 returning *', [id]);
    if (!row) throw notFound('label', id);
    const touched = await tx.query<{ id: string }>(
      'update conversations set labels = array_remove(labels, $1) where labels @> array[$1] returning id',
      [row.name],
    );
    emit({ type: 'label.deleted', data: { label: toLabel(row), conversations: touched.length } });
    // the conversations it left need its skills no more (the terms trigger worked them out again)
    if (Object.keys(row.required_skills).length > 0 && touched.length > 0) await drain(tx, emit, ctx.now());
  }, { routing: true });
}

/**
 * The catalogue rows of `names` (matched whatever their case), locked
 * `for share` (unless `lock` is false: a plain read) so a rename or delete
 * waits for the caller's transaction.
 * Unknown names: 400 naming them.
 */
export async function resolveLabelNames(tx: Queryable, names: readonly string[], options: { lock?: boolean; field?: string } = {}): Promise<LabelRow[]> {
  if (names.length === 0) return [];
  const rows = await tx.query<LabelRow>(
    `select * from labels where lower(name) = any ($1::text[]) order by lower(name)${options.lock === false ? '' : ' for share'}`,
    [names.map((n) => n.toLowerCase())],
  );
  const known = new Set(rows.map((r) => r.name.toLowerCase()));
  const unknown = names.filter((n) => !known.has(n.toLowerCase()));
  if (unknown.length > 0) {
    throw new AppError('SB_UNKNOWN_LABEL', `no such label: ${unknown.map((n) => JSON.stringify(n)).join(', ')}; an admin creates labels with POST /api/v1/labels`, 400, options.field ?? 'labels');
  }
  return rows;
}
