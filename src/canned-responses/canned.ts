import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { AppError, conflict, forbidden, invalid, notFound } from '../errors.js';
import { LOCKS, type Queryable } from '../store/db.js';
import { isBlank } from '../http/validation.js';

// Canned responses: shared ones, which admins and supervisors manage and
// every agent uses, and personal ones, which only their owner sees and
// manages (to anyone else a personal one does not exist: 404). Their
// variables ({{customer.name}}, …) are filled in by the console before it
// sends, where the agent can still read and edit the text. The text must not
// be blank (an answer of spaces inserts nothing).

export type Scope = 'shared' | 'personal';

export interface CannedRow {
  id: string;
  scope: Scope;
  owner_id: string | null;
  shortcut: string;
  text: string;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface Canned {
  id: string;
  scope: Scope;
  owner_id: string | null;
  shortcut: string;
  text: string;
  created_at: string;
  updated_at: string;
}

export const toCanned = (row: CannedRow): Canned => ({
  id: row.id,
  scope: row.scope,
  owner_id: row.owner_id,
  shortcut: row.shortcut,
  text: row.text,
  created_at: new Date(row.created_at).toISOString(),
  updated_at: new Date(row.updated_at).toISOString(),
});

type Agent = Actor & { id: string };

/**
 * How many canned responses there may be: each agent's own, and the shared
 * ones. The console fetches them all whenever a chat opens and ranks them
 * on every key, so they are kept to what a person can still pick from.
 */
export const CANNED_LIMITS = { personal: 500, shared: 1000 } as const;

const tooMany = (scope: Scope) =>
  new AppError(
    'SB_CANNED_LIMIT',
    scope === 'shared'
      ? `there are already ${CANNED_LIMITS.shared} shared canned responses, the most there may be; delete one first`
      : `you already have ${CANNED_LIMITS.personal} personal canned responses, the most an agent may have; delete one first`,
    422,
    'scope',
  );

const UNIQUE_VIOLATION = '23505';

const shortcutTaken = (scope: Scope, shortcut: string) =>
  conflict('SB_SHORTCUT_TAKEN', `the ${scope === 'shared' ? 'shared' : 'personal'} shortcut ${JSON.stringify(shortcut)} is already taken${scope === 'personal' ? ' among your canned responses' : ''} (shortcuts are unique whatever their case)`);

/** A 400 naming `text` when it holds nothing but blanks (kept as typed otherwise). */
function assertText(text: string | undefined): void {
  if (text !== undefined && isBlank(text)) throw invalid('text', 'must not be blank');
}

function assertMayManage(actor: Actor, scope: Scope): void {
  if (scope === 'shared' && !seesEverything(actor)) throw forbidden('shared canned responses are managed by admins and supervisors; add a personal one instead');
}

/** Shared ones and the caller's own personal ones, by shortcut; `q` matches the shortcut or the text. */
export async function listCanned(db: Queryable, actor: Agent, filter: { scope?: Scope; q?: string } = {}): Promise<CannedRow[]> {
  return db.query<CannedRow>(
    `select * from canned_responses
      where (scope = 'shared' or owner_id = $1)
        and ($2::text is null or scope = $2)
        and ($3::text is null or strpos(lower(shortcut), lower($3)) > 0 or strpos(lower(text), lower($3)) > 0)
      order by lower(shortcut), scope`,
    [actor.id, filter.scope ?? null, filter.q ?? null],
  );
}

export async function createCanned(ctx: Ctx, input: { shortcut: string; text: string; scope: Scope }, actor: Agent): Promise<CannedRow> {
  // who may comes first: an agent's blank shared response is a 403, as any shared one of theirs is
  assertMayManage(actor, input.scope);
  assertText(input.text);
  const now = ctx.now();
  const owner = input.scope === 'personal' ? actor.id : null;
  // counted and inserted under one lock, so concurrent creates cannot pass the cap together
  return ctx.db.transaction(async (tx) => {
    const [held] = await tx.query<{ n: number }>('select count(*)::int as n from canned_responses where scope = $1 and owner_id is not distinct from $2', [input.scope, owner]);
    if (held!.n >= CANNED_LIMITS[input.scope]) throw tooMany(input.scope);
    // a taken shortcut is no row here, and a 409
    const [row] = await tx.query<CannedRow>(
      `insert into canned_responses (scope, owner_id, shortcut, text, created_by, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $6) on conflict do nothing returning *`,
      [input.scope, owner, input.shortcut, input.text, actor.id, now],
    );
    if (!row) throw shortcutTaken(input.scope, input.shortcut);
    return row;
  }, { locks: [LOCKS.cannedResponses] });
}

/** The row the caller may see, locked; a personal one of someone else is as unknown as a missing one. */
async function visible(tx: Queryable, id: string, actor: Agent): Promise<CannedRow> {
  const [row] = await tx.query<CannedRow>(`select * from canned_responses where id = $1 and (scope = 'shared' or owner_id = $2) for update`, [id, actor.id]);
  if (!row) throw notFound('canned response', id);
  assertMayManage(actor, row.scope);
  return row;
}

export async function updateCanned(ctx: Ctx, id: string, patch: { shortcut?: string; text?: string }, actor: Agent): Promise<CannedRow> {
  try {
    return await ctx.db.transaction(async (tx) => {
      // someone else's personal response is a 404 (and a shared one an agent's 403) whatever the patch says
      await visible(tx, id, actor);
      assertText(patch.text);
      const [row] = await tx.query<CannedRow>(
        'update canned_responses set shortcut = coalesce($2, shortcut), text = coalesce($3, text), updated_at = $4 where id = $1 returning *',
        [id, patch.shortcut ?? null, patch.text ?? null, ctx.now()],
      );
      return row!;
    });
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      const [row] = await ctx.db.query<CannedRow>('select scope from canned_responses where id = $1', [id]);
      throw shortcutTaken(row?.scope ?? 'shared', patch.shortcut ?? '');
    }
    throw error;
  }
}

export async function deleteCanned(ctx: Ctx, id: string, actor: Agent): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await visible(tx, id, actor);
    await tx.query('delete from canned_responses where id = $1', [id]);
  });
}
