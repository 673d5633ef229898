// What Switchboard keeps of the texts a Qiscus webhook carries, and how
// much. A webhook is never refused for a text's length (schemas.ts): a
// refused allocation is refused again at every message of its room, which
// is then never allocated. So a text past its limit is mended: cut, where
// a part is still worth showing; passed over, where a part would be wrong.

/** Characters (code points) kept of each text. */
export const QISCUS_TEXT_LIMITS = { name: 500, email: 500, avatar_url: 2000, source: 100, extras: 100_000, notes: 10_000 } as const;

const longerThan = (text: string, max: number): boolean => text.length > max && [...text].length > max;

/** A name or notes: the first `max` characters of a longer one; undefined when it is no text. */
export function cutText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  return longerThan(value, max) ? [...value].slice(0, max).join('') : value;
}

/** An e-mail (the customer's id), a URL, a source or JSON: whole or not at all, since cut short it would name something else. */
export function wholeText(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && !longerThan(value, max) ? value : undefined;
}
