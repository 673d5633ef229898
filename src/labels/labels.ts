import { SYSTEM, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { toConversation, type ConversationRow } from '../conversations/model.js';
import { AppError, conflict, invalid, notFound } from '../errors.js';
import { withEvents, type Emit } from '../events/outbox.js';
import { ALLOWED_FORMAT } from '../http/format-characters.js';
import { drain } from '../routing/match.js';
import type { Queryable } from '../store/db.js';
import { LABEL_NAME_MAX } from './limits.js';

// The label catalogue (admins manage it). A conversation's labels are names
// in conversations.labels (migration 0023); renaming or deleting a label
// rewrites them in the same transaction, holding the label row, which
// PUT /conversations/:id/labels shares while it checks the names.
// A label may require skills (docs/routing.md#skills): the open
// conversations carrying it need them too, so a change of a label's skills,
// and a delete, are routing transactions (the routing lock first, then the
// label, then the conversations, as PUT /conversations/:id/labels takes
// them). A rename or recolour changes no requirement and takes no routing lock.
// Each conversation a rename or delete rewrites gets its
// conversation.labels_changed, as a PUT /conversations/:id/labels records
// it (webhook receivers and the console follow a conversation's labels by
// that event alone), and keeps its labels in the catalogue's order by name.

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

const nameTaken = (name: string) => conflict('SB_LABEL_EXISTS', `a label named ${JSON.stringify(name)} already exists (names are unique whatever their case or Unicode form)`);

/**
 * Marks nothing draws unless they follow what they select: a variation
 * selector (U+FE00–U+FE0F) after an emoji or before a keycap's U+20E3, an
 * ideographic one (U+E0100–U+E01EF) after a Han character; the combining
 * grapheme joiner (U+034F) never. Elsewhere they make a lookalike
 * ("V\uFE0FIP" beside "VIP").
 */
const INVISIBLE_MARK = /(?<!\p{Extended_Pictographic})[\u{FE00}-\u{FE0F}](?!\u{20E3})|(?<!\p{Script=Han})[\u{E0100}-\u{E01EF}]|\u{034F}/u;

/**
 * Characters drawn as nothing, or as a blank, that are not format characters
 * (those are judged below): the default-ignorable letters and marks (Hangul
 * fillers U+115F U+1160 U+3164 U+FFA0, Khmer's inherent vowels U+17B4
 * U+17B5, Mongolian's variation selectors U+180B–U+180F except right after
 * a Mongolian letter, whose shape they choose, the code points
 * Unicode keeps for more) but those INVISIBLE_MARK judges by where they
 * stand; the Braille blank U+2800; and the line and paragraph separators (a
 * name is one line). "\u3164" alone is a label nobody sees, "VIP\u3164" one
 * nobody tells from "VIP": refused, as nothing could mend them.
 */
const DRAWN_BLANK = /(?![\p{Cf}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}\u{034F}])(?!(?<=[\u{1820}-\u{18AA}])[\u{180B}-\u{180F}])\p{Default_Ignorable_Code_Point}|[\u{2800}\u{2028}\u{2029}]/u;

/**
 * Spaces: a no-break, thin or ideographic space, or two spaces, look like one
 * ("VIP\u00a0Gold", "VIP  Gold" beside "VIP Gold"). Each run is folded to one
 * U+0020, which is what the typist meant.
 */
const SPACES = /\p{Zs}+/gu;
/** Mongolian joins a suffix to its word with U+202F, part of the spelling: kept there. */
const foldSpaces = (name: string) =>
  name.replace(SPACES, (run, at: number) => (run === '\u202f' && /\p{Script=Mongolian}$/u.test(name.slice(0, at)) && /^\p{Script=Mongolian}/u.test(name.slice(at + 1)) ? run : ' '));

/**
 * The name as stored, or a 400 naming `field`. A name is what agents type in
 * `label=` and what the trace export joins with ";": no separators, no
 * control characters, no blanks at either end. It is stored in Unicode NFC,
 * so "Café" typed with a combining accent is the "Café" already there.
 *
 * Invisible format characters (\p{Cf}) would let a second label look exactly
 * like the first ("V\u200bIP" beside "VIP"), so they are refused, but for the
 * three that ordinary names cannot be spelled without (ALLOWED_FORMAT): the
 * zero-width joiner of emoji sequences (👩‍💻, 🏳️‍🌈), the tags of subdivision
 * flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿) and the zero-width non-joiner of Persian and Indic spelling
 * (می‌خواهم). Each only where it belongs: between Latin letters a joiner or
 * non-joiner changes nothing drawn ("V\u200dIP", "V\u200cIP" are refused).
 * So are the characters drawn as blank (DRAWN_BLANK); the spaces inside a
 * name are folded to single U+0020s (SPACES). A name stored before either
 * keeps its spelling, and is found by it (SAME_NAME folds nothing).
 */
export function labelName(input: string, field = 'name'): string {
  const name = input.normalize('NFC');
  if (name.trim() !== name || name.length === 0) throw invalid(field, 'must not start or end with blanks');
  if (/[,;\p{Cc}]/u.test(name)) throw invalid(field, `must not hold commas, semicolons or control characters, got ${shown(name)}`);
  if (DRAWN_BLANK.test(name)) {
    throw invalid(
      field,
      `must not hold characters drawn as blank or as nothing (Hangul fillers, the Braille blank, Khmer inherent vowels, Mongolian variation selectors) or line and paragraph separators, got ${shown(name)}`,
    );
  }
  if (/\p{Cf}/u.test(name.replace(ALLOWED_FORMAT, (sequence) => sequence.replace(/\p{Cf}/gu, ''))) || INVISIBLE_MARK.test(name)) {
    throw invalid(
      field,
      `must not hold invisible characters (zero-width spaces, word joiners, direction marks, soft hyphens; zero-width joiners and variation selectors only inside emoji, non-joiners only between letters of a joining or Indic script), got ${shown(name)}`,
    );
  }
  const folded = foldSpaces(name);
  // the schema counted the characters as typed; composing rarely makes more of them, but the column holds LABEL_NAME_MAX
  if ([...folded].length > LABEL_NAME_MAX) throw invalid(field, `must be at most ${LABEL_NAME_MAX} characters once in Unicode NFC`);
  return folded;
}

/** JSON, with the characters nobody sees spelled out, so a message shows why two names differ. */
const shown = (name: string) =>
  JSON.stringify(name).replace(/[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u{2800}\p{Zl}\p{Zp}]|(?! )\p{Zs}/gu, (c) => {
    const code = c.codePointAt(0)!.toString(16).padStart(4, '0');
    return code.length > 4 ? `\\u{${code}}` : `\\u${code}`;
  });

/**
 * Two names are one label when PostgreSQL's lower() of their NFC forms
 * agree. lower() is the comparison of the unique index (labels_name_key,
 * lower(name)); JavaScript's toLowerCase() parts from it (ΟΔΟΣ: final ς
 * against σ; İ: i + U+0307 against i), so names are compared here, never in
 * JavaScript. NFC on the catalogue's side too: names stored before they were
 * normalized keep working however they are typed. NAME_KEY of a label's
 * name is, word for word, the expression of its index labels_name_nfc
 * (migration 0088): spelled otherwise, every lookup reads the whole catalogue.
 */
const NAME_KEY = (name: string) => `lower(normalize(${name}, nfc))`;
const SAME_NAME = (a: string, b: string) => `${NAME_KEY(a)} = ${NAME_KEY(b)}`;

/**
 * The labels named in $1 (text[]), each with `asked`, the positions in $1
 * that name it, worked out by PostgreSQL. The catalogue is read through
 * labels_name_nfc, by `= any` of the names' keys: given an `exists` over
 * unnest($1) instead, PostgreSQL reads every label once a few names are
 * asked (a hash join: it does not count normalize() as costly).
 */
export const LABELS_NAMED_SQL = /* sql */ `
  select l.*,
         array(select a.i::int - 1 from unnest($1::text[]) with ordinality a(name, i) where ${SAME_NAME('a.name', 'l.name')} order by a.i) as asked
    from labels l
   where ${NAME_KEY('l.name')} = any (array(select ${NAME_KEY('a.name')} from unnest($1::text[]) a(name)))
   order by lower(l.name)`;

/**
 * SQL: the labels array `labels` in the catalogue's order (lower(name), as
 * listLabels and LABELS_NAMED_SQL sort them; a PUT stores them so).
 */
const IN_CATALOGUE_ORDER = (labels: string) => `array(select n from unnest(${labels}) n order by lower(n))`;

/**
 * conversation.labels_changed for each conversation a rename or delete
 * rewrote (`rows`, as they are now), with the payload of
 * PUT /conversations/:id/labels: the conversation, the Label objects now on
 * it, the names added and removed, and who did it.
 */
async function emitLabelsChanged(tx: Queryable, emit: Emit, rows: readonly ConversationRow[], change: { added: string[]; removed: string[] }, actor: Actor): Promise<void> {
  if (rows.length === 0) return;
  const names = [...new Set(rows.flatMap((r) => r.labels))];
  const catalogue = names.length === 0 ? [] : await tx.query<LabelRow>('select * from labels where name = any ($1::text[])', [names]);
  const byName = new Map(catalogue.map((l) => [l.name, toLabel(l)]));
  for (const row of rows) {
    emit({
      type: 'conversation.labels_changed',
      conversationId: row.id,
      agentId: row.agent_id,
      data: { conversation: toConversation(row), labels: row.labels.flatMap((n) => byName.get(n) ?? []), added: change.added, removed: change.removed, by: actor.id },
    });
  }
}

export async function listLabels(db: Queryable): Promise<LabelRow[]> {
  return db.query<LabelRow>('select * from labels order by lower(name)');
}

export async function createLabel(ctx: Ctx, input: { name: string; color: string; required_skills?: Record<string, number> }): Promise<LabelRow> {
  const name = labelName(input.name);
  return withEvents(ctx, async (tx, emit) => {
    const now = ctx.now();
    // A concurrent create of the same name loses on the unique index, with the same 409. The index
    // compares names as stored: a name stored before names were normalized is caught by the `not exists`
    // (no such name is created any more, so the index settles every race).
    const [row] = await tx.query<LabelRow>(
      `insert into labels (name, color, required_skills, created_at, updated_at)
       select $1::text, $2::text, $3::jsonb, $4::timestamptz, $4::timestamptz
        where not exists (select 1 from labels o where ${SAME_NAME('o.name', '$1::text')})
       on conflict do nothing returning *`,
      [name, input.color.toLowerCase(), JSON.stringify(input.required_skills ?? {}), now],
    );
    if (!row) throw nameTaken(name);
    emit({ type: 'label.created', data: { label: toLabel(row) } });
    return row;
  });
}

/**
 * A rename rewrites the name on every conversation that carries it, in the catalogue's order, and records
 * conversation.labels_changed on each (by `actor`); conversations keep their updated_at.
 * New required skills apply to the open conversations carrying the label at once, and whatever a smaller
 * requirement lets an agent with room serve is matched before the answer.
 */
export async function updateLabel(
  ctx: Ctx,
  id: string,
  patch: { name?: string; color?: string; required_skills?: Record<string, number> },
  actor: Actor = SYSTEM,
): Promise<LabelRow> {
  const name = patch.name === undefined ? null : labelName(patch.name);
  // A rename rewrites conversations' labels, which a concurrent skills
  // refresh (a label's, a department's, a channel's: all under the exclusive
  // lock) would read against the catalogue of its snapshot, from before the
  // rename, and so lose the renamed label's skills: the shared lock makes
  // them take turns (test/integration/concurrency-label-rename.test.ts).
  const routing = patch.required_skills !== undefined ? true : name !== null ? ('shared' as const) : false;
  try {
    return await withEvents(ctx, async (tx, emit) => {
      const [old] = await tx.query<LabelRow>('select * from labels where id = $1 for update', [id]);
      if (!old) throw notFound('label', id);
      // as on create: the `not exists` for a lookalike stored before names were normalized, the index for the rest
      const [row] = await tx.query<LabelRow>(
        `update labels set name = coalesce($2, name), color = coalesce($3, color), required_skills = coalesce($4::jsonb, required_skills), updated_at = $5
          where id = $1 and ($2::text is null or not exists (select 1 from labels o where o.id <> $1 and ${SAME_NAME('o.name', '$2::text')}))
          returning *`,
        [id, name, patch.color?.toLowerCase() ?? null, patch.required_skills ? JSON.stringify(patch.required_skills) : null, ctx.now()],
      );
      if (!row) throw nameTaken(name ?? old.name);
      const renamed =
        row.name === old.name
          ? []
          : await tx.query<ConversationRow>(
              `update conversations set labels = ${IN_CATALOGUE_ORDER('array_replace(labels, $1, $2)')} where labels @> array[$1] returning *`,
              [old.name, row.name],
            );
      emit({ type: 'label.updated', data: { label: toLabel(row), previous_name: old.name } });
      await emitLabelsChanged(tx, emit, renamed, { added: [row.name], removed: [old.name] }, actor);
      if (patch.required_skills !== undefined) {
        await tx.query('select sb_refresh_label_terms($1)', [row.name]);
        await drain(tx, emit, ctx.now());
      }
      return row;
    }, { routing });
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw nameTaken(name ?? '');
    throw error;
  }
}

/** Deleting a label takes it off every conversation, in the same transaction, recording conversation.labels_changed on each (by `actor`). */
export async function deleteLabel(ctx: Ctx, id: string, actor: Actor = SYSTEM): Promise<void> {
  await withEvents(ctx, async (tx, emit) => {
    const [row] = await tx.query<LabelRow>('delete from labels where id = $1 returning *', [id]);
    if (!row) throw notFound('label', id);
    const touched = await tx.query<ConversationRow>(
      `update conversations set labels = ${IN_CATALOGUE_ORDER('array_remove(labels, $1)')} where labels @> array[$1] returning *`,
      [row.name],
    );
    emit({ type: 'label.deleted', data: { label: toLabel(row), conversations: touched.length } });
    await emitLabelsChanged(tx, emit, touched, { added: [], removed: [row.name] }, actor);
    // the conversations it left need its skills no more (the terms trigger worked them out again)
    if (Object.keys(row.required_skills).length > 0 && touched.length > 0) await drain(tx, emit, ctx.now());
  }, { routing: true });
}

/**
 * The catalogue rows of `names` (compared as SAME_NAME compares them), in
 * the catalogue's order, locked `for share` (unless `lock` is false: a plain
 * read) so a rename or delete waits for the caller's transaction.
 *
 * `names` is the body's `labels` list (its items named `labels[i]` in
 * errors) unless `field` names the query parameter that holds the one name.
 * A 400 when a name matches no label (SB_UNKNOWN_LABEL, naming them all),
 * when two names are one label (`["VIP", "vip"]`: the second, as the
 * schema's uniqueItems refuses `["VIP", "VIP"]`), or when a name matches two
 * labels stored before names were normalized ("Café" composed and
 * decomposed) and spells neither exactly.
 */
export async function resolveLabelNames(tx: Queryable, names: readonly string[], options: { lock?: boolean; field?: string } = {}): Promise<LabelRow[]> {
  if (names.length === 0) return [];
  const at = (i: number) => options.field ?? `labels[${i}]`;
  const rows = await tx.query<LabelRow & { asked: number[] }>(`${LABELS_NAMED_SQL}${options.lock === false ? '' : ' for share'}`, [names]);
  const chosen = new Map<LabelRow, number>();
  const unknown: string[] = [];
  names.forEach((name, i) => {
    const matches = rows.filter((r) => r.asked.includes(i));
    // only lookalikes stored before names were normalized match together; the one spelled exactly so is meant
    const [row, ...more] = matches.length > 1 ? matches.filter((r) => r.name === name) : matches;
    if (matches.length > 1 && (!row || more.length > 0)) {
      throw invalid(at(i), `matches the labels ${matches.map((r) => shown(r.name)).join(' and ')}, which differ only in case or in how their accents are encoded: spell one exactly as GET /api/v1/labels does (an admin may rename the other)`);
    }
    if (!row) return void unknown.push(name);
    const earlier = chosen.get(row);
    if (earlier !== undefined) throw invalid(at(i), `names the label of ${at(earlier)} (${shown(names[earlier]!)}) again: names are compared whatever their case or Unicode form`);
    chosen.set(row, i);
  });
  if (unknown.length > 0) {
    throw new AppError('SB_UNKNOWN_LABEL', `no such label: ${unknown.map(shown).join(', ')}; an admin creates labels with POST /api/v1/labels`, 400, options.field ?? 'labels');
  }
  return rows.filter((r) => chosen.has(r)).map(({ asked: _asked, ...row }) => row);
}
