import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context.js';
import { invalid, notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { isBlank } from '../http/validation.js';
import type { Queryable } from '../store/db.js';
import { checkPattern, MAX_AFTER_SECONDS, type Trigger } from './trigger.js';

// Proactive greetings as admins define them: a message and the trigger that
// opens the widget with it. Changes are recorded as settings.changed events,
// like the widget's other settings, in the same transaction.

export interface Greeting {
  id: string;
  name: string;
  message: string;
  enabled: boolean;
  trigger: Trigger;
  created_at: string;
  updated_at: string;
}

/** What the loader needs to evaluate a greeting, and nothing an admin keeps for themselves (its name). */
export type PublicGreeting = Pick<Greeting, 'id' | 'message' | 'trigger'>;

export interface GreetingInput {
  name: string;
  message: string;
  enabled?: boolean;
  trigger: Partial<Trigger>;
}

export const LIMITS = { name: 100, message: 500 } as const;

interface Row {
  id: string;
  name: string;
  message: string;
  enabled: boolean;
  after_seconds: number | null;
  url_pattern: string | null;
  first_visit: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, name, message, enabled, after_seconds, url_pattern, first_visit, created_at, updated_at';

const toGreeting = (r: Row): Greeting => ({
  id: r.id,
  name: r.name,
  message: r.message,
  enabled: r.enabled,
  trigger: { after_seconds: r.after_seconds, url_pattern: r.url_pattern, first_visit: r.first_visit },
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

/** The input checked and tidied, or a 400 naming the field (trigger.url_pattern, …). */
export function checkGreeting(input: GreetingInput): Omit<Greeting, 'id' | 'created_at' | 'updated_at'> {
  const name = input.name.trim();
  const message = input.message.trim();
  // isBlank, not only spaces: a message of zero-width characters would open the widget on an empty greeting
  if (isBlank(name)) throw invalid('name', 'must not be blank');
  if ([...name].length > LIMITS.name) throw invalid('name', `must be at most ${LIMITS.name} characters`);
  if (isBlank(message)) throw invalid('message', 'must not be blank');
  if ([...message].length > LIMITS.message) throw invalid('message', `must be at most ${LIMITS.message} characters`);
  const after = input.trigger.after_seconds ?? null;
  if (after !== null && (!Number.isInteger(after) || after < 0 || after > MAX_AFTER_SECONDS)) {
    throw invalid('trigger.after_seconds', `must be a whole number of seconds from 0 to ${MAX_AFTER_SECONDS}, or null`);
  }
  const pattern = input.trigger.url_pattern ?? null;
  const problem = pattern === null ? null : checkPattern(pattern);
  if (problem) throw invalid('trigger.url_pattern', problem);
  return { name, message, enabled: input.enabled ?? true, trigger: { after_seconds: after, url_pattern: pattern, first_visit: input.trigger.first_visit ?? false } };
}

export async function listGreetings(db: Queryable): Promise<Greeting[]> {
  return (await db.query<Row>(`select ${COLUMNS} from greetings order by created_at, id`)).map(toGreeting);
}

export async function getGreeting(db: Queryable, id: string): Promise<Greeting> {
  const [row] = await db.query<Row>(`select ${COLUMNS} from greetings where id = $1`, [id]);
  if (!row) throw notFound('greeting', id);
  return toGreeting(row);
}

/**
 * The enabled greetings, oldest first, for the loader; with a visitor id,
 * without those already shown to that visitor (the server's half of "once
 * per visitor": the loader's localStorage is the other).
 */
export async function activeGreetings(db: Queryable, visitorId: string | null): Promise<PublicGreeting[]> {
  const rows = await db.query<Row>(
    `select ${COLUMNS} from greetings g
      where g.enabled
        and ($1::text is null or not exists (select 1 from greeting_events e where e.greeting_id = g.id and e.visitor_id = $1 and e.kind = 'shown'))
      order by g.created_at, g.id`,
    [visitorId],
  );
  return rows.map((r) => {
    const g = toGreeting(r);
    return { id: g.id, message: g.message, trigger: g.trigger };
  });
}

export async function createGreeting(ctx: Ctx, input: GreetingInput, by: string | null): Promise<Greeting> {
  const g = checkGreeting(input);
  return withEvents(ctx, async (tx, emit) => {
    const now = ctx.now();
    const [row] = await tx.query<Row>(
      `insert into greetings (id, name, message, enabled, after_seconds, url_pattern, first_visit, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning ${COLUMNS}`,
      [randomUUID(), g.name, g.message, g.enabled, g.trigger.after_seconds, g.trigger.url_pattern, g.trigger.first_visit, now],
    );
    const greeting = toGreeting(row!);
    emit({ type: 'settings.changed', data: { changed: { greeting: greeting }, by } });
    return greeting;
  });
}

export async function replaceGreeting(ctx: Ctx, id: string, input: GreetingInput, by: string | null): Promise<Greeting> {
  const g = checkGreeting(input);
  return withEvents(ctx, async (tx, emit) => {
    const [row] = await tx.query<Row>(
      `update greetings set name = $2, message = $3, enabled = $4, after_seconds = $5, url_pattern = $6, first_visit = $7, updated_at = $8
        where id = $1 returning ${COLUMNS}`,
      [id, g.name, g.message, g.enabled, g.trigger.after_seconds, g.trigger.url_pattern, g.trigger.first_visit, ctx.now()],
    );
    if (!row) throw notFound('greeting', id);
    const greeting = toGreeting(row);
    emit({ type: 'settings.changed', data: { changed: { greeting }, by } });
    return greeting;
  });
}

/** Deletes a greeting and its counts (they describe a greeting that no longer exists). */
export async function deleteGreeting(ctx: Ctx, id: string, by: string | null): Promise<void> {
  await withEvents(ctx, async (tx, emit) => {
    const [row] = await tx.query<{ id: string }>('delete from greetings where id = $1 returning id', [id]);
    if (!row) throw notFound('greeting', id);
    emit({ type: 'settings.changed', data: { changed: { greeting: { id, deleted: true } }, by } });
  });
}
