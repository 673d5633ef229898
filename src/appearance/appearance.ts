import type { Ctx } from '../context.js';
import { invalid } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { LINE_BREAKING_CHARACTER } from '../http/one-line.js';
import { isBlank } from '../http/validation.js';
import type { Queryable } from '../store/db.js';
import { HEX_COLOR, textColorOn } from './contrast.js';

// The widget's look as an admin chose it: read by the loader (launcher) and
// the chat frame (CSS variables), replaced whole by an admin. No row yet
// means the defaults, which are the look the widget always had.

export const POSITIONS = ['bottom-right', 'bottom-left'] as const;
export type Position = (typeof POSITIONS)[number];

export interface Appearance {
  /** #rrggbb, lowercase: the launcher, the header, buttons, the customer's bubbles */
  color: string;
  position: Position;
  /** the launcher button's label */
  launcher_text: string;
  /** the chat window's heading */
  title: string;
  /** agents' initials beside their messages and name */
  show_agent_avatars: boolean;
}

export const DEFAULT_APPEARANCE: Appearance = {
  color: '#2457c5',
  position: 'bottom-right',
  launcher_text: 'Chat with us',
  title: 'Chat with us',
  show_agent_avatars: true,
};

export const LIMITS = { launcher_text: 40, title: 60 } as const;

/** The appearance with the text colour readable on its colour (WCAG AA), as the widget needs it. */
export const withTextColor = (a: Appearance) => ({ ...a, text_color: textColorOn(a.color) });

export async function readAppearance(db: Queryable): Promise<Appearance> {
  const [row] = await db.query<Appearance>('select color, position, launcher_text, title, show_agent_avatars from widget_appearance');
  return row ? { color: row.color, position: row.position, launcher_text: row.launcher_text, title: row.title, show_agent_avatars: row.show_agent_avatars } : { ...DEFAULT_APPEARANCE };
}

/** The input checked and tidied (trimmed texts, lowercase colour), or a 400 naming the field. */
export function checkAppearance(input: Appearance): Appearance {
  if (!HEX_COLOR.test(input.color)) throw invalid('color', `must be a hex colour like #2457c5 (# and six hex digits), got ${JSON.stringify(input.color.slice(0, 40))}`);
  if (!POSITIONS.includes(input.position)) throw invalid('position', `must be one of ${POSITIONS.join(', ')}, got ${JSON.stringify(input.position.slice(0, 40))}`);
  const texts = { launcher_text: input.launcher_text.trim(), title: input.title.trim() };
  for (const key of ['launcher_text', 'title'] as const) {
    if (isBlank(texts[key])) throw invalid(key, 'must not be blank');
    // a button's label and a heading: a line break or control character would break the loader's launcher and the frame's title
    if (LINE_BREAKING_CHARACTER.test(texts[key])) throw invalid(key, 'must be one line: no line break or control character');
    if ([...texts[key]].length > LIMITS[key]) throw invalid(key, `must be at most ${LIMITS[key]} characters`);
  }
  return { color: input.color.toLowerCase(), position: input.position, ...texts, show_agent_avatars: input.show_agent_avatars };
}

/** Replaces the appearance (checked first: nothing written on a 400), recorded as settings.changed in the same transaction. */
export async function replaceAppearance(ctx: Ctx, input: Appearance, by: string | null): Promise<Appearance> {
  const look = checkAppearance(input);
  return withEvents(ctx, async (tx, emit) => {
    await tx.query(
      `insert into widget_appearance (id, color, position, launcher_text, title, show_agent_avatars, updated_at, updated_by)
       values (true, $1, $2, $3, $4, $5, $6, $7)
       on conflict (id) do update set color = excluded.color, position = excluded.position, launcher_text = excluded.launcher_text,
         title = excluded.title, show_agent_avatars = excluded.show_agent_avatars, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [look.color, look.position, look.launcher_text, look.title, look.show_agent_avatars, ctx.now(), by],
    );
    emit({ type: 'settings.changed', data: { changed: { widget_appearance: look }, by } });
    return look;
  });
}
