import { seesEverything, type Actor } from '../agents/model.js';
import type { ConversationRow, ConversationState } from '../conversations/model.js';
import type { MessageRow } from '../conversations/messages.js';
import { invalid } from '../errors.js';
import { isBlank } from '../http/validation.js';
import { resolveLabelNames } from '../labels/labels.js';
import type { Db } from '../store/db.js';
import { SEARCH_AGENT_FILTER, SEARCH_ALL, SEARCH_HELD } from './sql.js';

export interface SearchInput {
  /** the words, as a person types them into a web search engine */
  q: string;
  state?: ConversationState;
  /** the agent holding (or, closed, last holding) the conversation */
  agent?: string;
  department?: string;
  /** a label name, whatever its case; an unknown one is a 400 */
  label?: string;
  /** hits at or after this time (a message's, or a customer match's conversation's opening) */
  from?: Date;
  /** hits before this time */
  to?: Date;
  limit: number;
  offset: number;
}

/** A message that matched, in its conversation; or a conversation whose customer matched (message null). */
export interface SearchHit {
  conversation: ConversationRow;
  message: MessageRow | null;
}

/** Checks the caller cannot express in the schema; throws a 400 naming the field. */
export function checkSearchInput(input: SearchInput): void {
  // isBlank, as notes and canned texts are judged: a zero-width space alone matches nothing a person typed
  if (isBlank(input.q)) throw invalid('q', 'must contain something to search for, not only spaces or invisible characters');
  // the route parses with parseDateTime; a caller in code may hand over an Invalid Date or a year PostgreSQL cannot read
  for (const field of ['from', 'to'] as const) {
    const at = input[field];
    if (at !== undefined && !(at.getUTCFullYear() >= 1970 && at.getUTCFullYear() <= 9999)) throw invalid(field, 'must be an instant between the years 1970 and 9999 (UTC)');
  }
  if (input.from !== undefined && input.to !== undefined && input.from >= input.to) {
    throw invalid('to', `must be after from (${input.from.toISOString()}), got ${input.to.toISOString()}`);
  }
}

/**
 * Full-text search over messages and customers, newest hit first, limited to
 * what the caller may see: supervisors and admins everything, an agent the
 * conversations they hold or held.
 */
export async function search(db: Db, actor: Actor, input: SearchInput): Promise<SearchHit[]> {
  checkSearchInput(input);
  // as on GET /conversations: a label that does not exist is a mistake worth hearing about, not an empty page
  const [label] = input.label === undefined ? [] : await resolveLabelNames(db, [input.label], { lock: false, field: 'label' });
  const { text, params } = searchStatement(actor, input, label?.name ?? null);
  const rows = await db.transaction(async (tx) => {
    await tx.query(SEARCH_SETTINGS);
    return tx.query<{ conversation: ConversationRow; message: MessageRow | null }>(text, params);
  });
  return rows.map((r) => ({ conversation: r.conversation, message: r.message }));
}

/**
 * Set in the transaction of each search. Statements are prepared once per
 * connection (PGlite and pg alike), and after a few runs PostgreSQL may keep
 * one generic plan for all words. For search that is the wrong plan for most
 * of them: a rare word wants the GIN index, a common one the walk back
 * through the newest messages, and a question of exclusions only no match
 * on the customer's words at all (sql.ts). Parallel workers cost more to
 * start than these reads take, and on a busy server they take cores from
 * everything else. The search indexes are read at random and are meant to
 * stay in memory: with the default random_page_cost (4, for spinning disks)
 * the planner would rather hash all conversations than look up an agent's
 * thousand by key.
 */
export const SEARCH_SETTINGS = /* sql */ `
select set_config('plan_cache_mode', 'force_custom_plan', true), set_config('max_parallel_workers_per_gather', '0', true),
       set_config('random_page_cost', '1.1', true)`;

/** The statement search() runs for this caller and input (its label resolved to the catalogue's name), apart so its plan can be read. */
export function searchStatement(actor: Actor, input: SearchInput, label: string | null): { text: string; params: unknown[] } {
  const params: unknown[] = [
    input.q.trim(),
    input.state ?? null,
    input.agent ?? null,
    input.department ?? null,
    input.from?.toISOString() ?? null,
    input.to?.toISOString() ?? null,
    input.offset + input.limit,
    input.offset,
    input.limit,
    label,
  ];
  const everything = seesEverything(actor);
  if (!everything) params.push(actor.id);
  const text = !everything ? SEARCH_HELD : input.agent !== undefined ? SEARCH_AGENT_FILTER : SEARCH_ALL;
  return { text, params };
}
